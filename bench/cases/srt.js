/**
 * @anthropic-ai/sandbox-runtime in library mode: one wrap + spawn per command, with the
 * policy closest to a namespace sandbox's: the workspace writable, network off (no allowed
 * domains), everything else read-only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PATHS } from '../lib/paths.js';

export async function openSrt() {
  const { SandboxManager } = await import(PATHS.srt);
  const deps = SandboxManager.checkDependencies();
  if (deps.errors.length > 0) throw new Error(`bench: sandbox-runtime dependencies missing: ${deps.errors.join('; ')}`);
  const workspace = mkdtempSync(join(tmpdir(), 'agentd-bench-srt-'));
  await SandboxManager.initialize({
    network: { allowedDomains: [], deniedDomains: [] },
    filesystem: { denyRead: [], allowWrite: [workspace], denyWrite: [] },
  });

  async function srtTrue() {
    const wrapped = await SandboxManager.wrapWithSandbox('true');
    await new Promise((resolve, reject) => {
      const c = spawn(wrapped, { shell: true, cwd: workspace, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.once('error', reject);
      c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`srt: true exited ${code}: ${err.trim()}`))));
    });
    SandboxManager.cleanupAfterCommand();
  }

  return {
    srtTrue,
    async close() {
      await SandboxManager.reset();
      rmSync(workspace, { recursive: true, force: true });
    },
  };
}
