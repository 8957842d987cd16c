#!/usr/bin/env node
/**
 * An agent-style loop with the stock E2B SDK (`npm install e2b`): write code, run its tests,
 * read the results, fix the code, run them again. Nothing here knows about agentd: the same
 * file runs against E2B's hosted service. Against agentd, set two environment variables
 * (docs/e2b.md) besides the key:
 *
 *   E2B_API_KEY=e2b_...                         # agentd keys create --e2b --subject me --tenant me
 *   E2B_API_URL=http://127.0.0.1:7070/e2b
 *   E2B_SANDBOX_URL=http://127.0.0.1:7070
 *   node examples/e2b-agent.mjs
 *
 * Prints one JSON line: what each test run reported.
 */
import { CommandExitError, Sandbox } from 'e2b';

const BUGGY = `def add(a, b):\n    return a - b\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n`;
const FIXED = `def add(a, b):\n    return a + b\n\ndef mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0\n`;
const TESTS = `import json, unittest\nfrom calc import add, mean\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n    def test_mean(self):\n        self.assertEqual(mean([1, 2, 3]), 2)\n    def test_mean_empty(self):\n        self.assertEqual(mean([]), 0.0)\n\nif __name__ == '__main__':\n    r = unittest.main(exit=False, verbosity=2).result\n    json.dump({'run': r.testsRun, 'failures': len(r.failures), 'errors': len(r.errors)}, open('results.json', 'w'))\n    raise SystemExit(0 if r.wasSuccessful() else 1)\n`;

/** Runs the tests; a failing run is a result to read, not an error (the SDK throws CommandExitError on a non-zero exit). */
async function runTests(sbx, dir) {
  let exitCode;
  let output = '';
  try {
    const r = await sbx.commands.run('python3 test_calc.py', { cwd: dir, timeoutMs: 60_000, onStderr: (d) => { output += d; } });
    exitCode = r.exitCode;
  } catch (err) {
    if (!(err instanceof CommandExitError)) throw err;
    exitCode = err.exitCode;
  }
  const results = JSON.parse(await sbx.files.read(`${dir}/results.json`));
  return { exitCode, results, failed: [...output.matchAll(/^(test_\w+) .*\.\.\. (?:FAIL|ERROR)$/gm)].map((m) => m[1]) };
}

const sbx = await Sandbox.create({ timeoutMs: 5 * 60_000, metadata: { purpose: 'e2b-agent-example' } });
try {
  const home = (await sbx.commands.run('echo $HOME')).stdout.trim();
  const dir = `${home}/project`;
  await sbx.files.write([
    { path: `${dir}/calc.py`, data: BUGGY },
    { path: `${dir}/test_calc.py`, data: TESTS },
  ]);
  const first = await runTests(sbx, dir);
  // The "agent" reads the failures and rewrites the code.
  await sbx.files.write(`${dir}/calc.py`, FIXED);
  const second = await runTests(sbx, dir);
  const listing = (await sbx.files.list(dir)).map((e) => e.name).sort();
  console.log(JSON.stringify({ sandboxId: sbx.sandboxId, first, second, files: listing }));
} finally {
  await sbx.kill();
}
