#!/usr/bin/env node
/**
 * `npm test`: build, type-check the tests, lint, then vitest, each step announced on stderr
 * before it starts, with a "still running" line every 15 s and its duration when it ends, so
 * a long step is never silent. The first failing step stops the run with its exit code.
 * Every argument goes to vitest: `npm test -- --reporter=default --reporter=json
 * --outputFile.json=FILE` (.ci/run) or `npm test -- packages/sdk` work as with `vitest run`.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const HEARTBEAT_MS = 15_000;

const steps = [
  { name: 'build', argv: ['npm', 'run', '--silent', 'build'] },
  { name: 'typecheck tests (sdk)', argv: [bin('tsc'), '-p', 'packages/sdk/test', '--noEmit'] },
  { name: 'typecheck tests (agentd)', argv: [bin('tsc'), '-p', 'packages/agentd/test', '--noEmit'] },
  { name: 'lint', argv: [bin('eslint'), '.'] },
  { name: 'vitest', argv: [bin('vitest'), 'run', ...process.argv.slice(2)] },
];

const say = (text) => process.stderr.write(`test: ${text}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function run(step) {
  return new Promise((resolve) => {
    const started = Date.now();
    say(`${step.name} ...`);
    const heartbeat = setInterval(() => say(`${step.name}: still running (${seconds(Date.now() - started)})`), HEARTBEAT_MS);
    const child = spawn(step.argv[0], step.argv.slice(1), { cwd: root, stdio: 'inherit' });
    const done = (code) => {
      clearInterval(heartbeat);
      say(`${step.name} ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${seconds(Date.now() - started)}`);
      resolve(code);
    };
    child.once('error', (err) => {
      say(`${step.name}: cannot start ${step.argv[0]}: ${err.message}`);
      done(127);
    });
    child.once('close', (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

const total = Date.now();
for (const step of steps) {
  const code = await run(step);
  if (code !== 0) {
    process.exitCode = code;
    break;
  }
}
if (process.exitCode === undefined || process.exitCode === 0) say(`all steps passed in ${seconds(Date.now() - total)}`);
