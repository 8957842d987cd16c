/**
 * The `gvisor` backend (alias `runsc`): the oci backend's bundle under runsc, gVisor's
 * runtime. The platform is chosen by the probe: systrap, then kvm where /dev/kvm exists (not nested), then
 * ptrace, the first under which agentd-init really runs; always `--network=none` (runsc
 * refuses host networking in the root network namespace, and agentd's allowlist relay needs
 * host Unix sockets gVisor does not reach). What gVisor enforces differently is in the probe:
 * its own kernel (the Sentry) serves every system call, the host cgroup holds the Sentry as a
 * whole (CPU and freezer work on it; a memory or process limit is refused). Where its kernel
 * refuses PR_SET_CHILD_SUBREAPER below PID 1, agentd-init runs with --no-shepherd-subreaper
 * (the probe finds it: oci/backend.ts). Images and root inside use the oci bundle's user
 * namespace, which runsc applies to its Sentry and gofer on the host.
 */
import { access, constants, readFile } from 'node:fs/promises';
import { OciBackend } from '../oci/backend.js';
import { GvisorOptionsSchema, parseOptions } from '../oci/options.js';
import type { BackendFactoryContext, IsolationBackend } from '../types.js';

export { GvisorOptionsSchema };

/** The platforms to try, best first (the user's choice alone when not 'auto'). */
export async function platformCandidates(choice: 'auto' | 'systrap' | 'kvm' | 'ptrace'): Promise<Array<{ flags: string[]; detail: string; timeoutMs?: number }>> {
  const flags = (p: string): string[] => [`--platform=${p}`, '--network=none'];
  if (choice !== 'auto') return [{ flags: flags(choice), detail: `platform ${choice} (configured)` }];
  const kvm = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
  // Under a hypervisor, /dev/kvm is nested virtualisation, where runsc's kvm platform hangs
  // (measured here): not tried by 'auto' (platform = "kvm" forces it).
  const guest = /^flags\s*:.*\bhypervisor\b/m.test(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''));
  const why = !kvm ? 'no /dev/kvm' : guest ? '/dev/kvm is nested (this host runs under a hypervisor): not tried' : 'kvm did not run here';
  return [
    { flags: flags('systrap'), detail: 'platform systrap' },
    ...(kvm && !guest ? [{ flags: flags('kvm'), detail: 'platform kvm', timeoutMs: 5000 }] : []),
    { flags: flags('ptrace'), detail: `platform ptrace (the fallback; ${why}; systrap did not run here)` },
  ];
}

export function createGvisorBackend(ctx: BackendFactoryContext): IsolationBackend {
  const o = parseOptions(GvisorOptionsSchema, 'gvisor', ctx.options);
  return new OciBackend(
    {
      name: 'gvisor',
      runtime: 'runsc',
      paths: o.runsc_path === undefined ? {} : { runsc: o.runsc_path },
      runscCandidates: () => platformCandidates(o.platform ?? 'auto'),
      ...(o.host_uid_range === undefined ? {} : { hostUidRange: o.host_uid_range }),
      ...(o.cgroup_parent === undefined ? {} : { cgroupParent: o.cgroup_parent }),
    },
    ctx.initPath,
    ctx.logger,
  );
}
