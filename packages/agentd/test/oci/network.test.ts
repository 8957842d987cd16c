/**
 * Network 'allowlist' under the oci backend: the only way out is agentd-init's relay to the
 * daemon's egress proxy (the same relay as under the namespace backend). An allowed upstream
 * (a server of the test's own on loopback) is reached through it; a direct connection to the
 * host's loopback, or to any address, fails (the sandbox's network namespace has only `lo`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from '../network/fixtures.js';

const backend = 'oci-runc';
const probe = process.getuid?.() === 0 ? (await createBuiltinRegistry().probeAll({ initPath: nativePaths().init, logger: silentLogger })).find((p) => p.backend === backend) : undefined;
const why = process.getuid?.() !== 0 ? 'needs a root daemon' : probe?.available !== true ? `not available here: ${probe?.reason ?? 'not probed'}` : undefined;
if (why !== undefined) console.warn(`oci network test skipped: ${why}`);

describe.skipIf(why !== undefined)(`network allowlist under ${backend}`, () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    up = await startUpstreams(['up.test']);
    d = await startNetDaemon(up, { isolation: { backend, backends: { [backend]: { cgroup_parent: `agentd-test-${process.pid}-ocinet` } } } });
    id = await createSandbox(d, { network: 'allowlist' });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('reaches an allowed upstream through the relay, and nothing directly', async () => {
    const viaProxy = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`]);
    expect(viaProxy.stdout).toBe(`hello from upstream up.test:${up.http}\n`);
    const direct = await run(d, id, ['curl', '-sS', '--noproxy', '*', '--max-time', '5', `http://127.0.0.1:${up.http}/`]);
    expect(direct.code).not.toBe(0);
    expect(direct.stdout).toBe('');
    const ifaces = await run(d, id, ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "']);
    expect(ifaces.stdout.trim()).toBe('lo');
  }, 60_000);
});
