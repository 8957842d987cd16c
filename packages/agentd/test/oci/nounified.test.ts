/**
 * agentd-nounified (native/nounified): crun's hybrid-cgroup workaround in one process. The
 * program runs in a private mount namespace without /sys/fs/cgroup/unified, the host's mounts
 * stay as they were, and crunWorkaround() picks the helper where it exists (the shell form
 * otherwise, and nothing on a host that is not hybrid).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crunWorkaround } from '../../src/isolation/oci/runtime.js';
import { nativePaths } from '../../src/native-paths.js';

const helper = nativePaths().nounified;
const isRoot = process.getuid?.() === 0;
const unifiedLine = (text: string): string | undefined => text.split('\n').find((l) => l.split(' ')[4] === '/sys/fs/cgroup/unified' && l.includes(' - cgroup2 '));
const hybrid = unifiedLine(readFileSync('/proc/self/mountinfo', 'utf8')) !== undefined && / - cgroup cgroup /.test(readFileSync('/proc/self/mountinfo', 'utf8'));
const why = !existsSync(helper) ? `${helper} is not built (npm run build:native)` : !isRoot ? 'needs root (unshare of a mount namespace)' : !hybrid ? 'this host has no hybrid cgroup mount at /sys/fs/cgroup/unified' : undefined;
if (why !== undefined) console.warn(`agentd-nounified tests skipped: ${why}`);

describe.skipIf(why !== undefined)('agentd-nounified', () => {
  it('runs the program (same pid) in a mount namespace of its own without the cgroup2 mount, the host keeping it', () => {
    const hostNs = execFileSync('readlink', ['/proc/self/ns/mnt']).toString().trim();
    const out = execFileSync(helper, ['/bin/sh', '-c', 'readlink /proc/self/ns/mnt; echo ---; cat /proc/self/mountinfo'], { env: { PATH: '/usr/bin:/bin' } }).toString();
    const [ns, mountinfo] = out.split('\n---\n');
    expect(ns?.trim()).toMatch(/^mnt:\[\d+\]$/);
    expect(ns?.trim()).not.toBe(hostNs);
    expect(unifiedLine(mountinfo ?? '')).toBeUndefined();
    // Every mount in there is private: nothing done in it propagates to the host.
    expect((mountinfo ?? '').split('\n').filter((l) => / shared:\d+/.test(l))).toEqual([]);
    // The v1 controllers are still there (crun places the container in them).
    expect(mountinfo).toMatch(/ - cgroup cgroup /);
    expect(unifiedLine(readFileSync('/proc/self/mountinfo', 'utf8'))).toBeDefined();
  });

  it('exits 2 on bad use and 127 when the program cannot be run, with one line on stderr', () => {
    const none = spawnSync(helper, [], { encoding: 'utf8' });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^usage: agentd-nounified PROGRAM/);
    const missing = spawnSync(helper, ['/nonexistent/program'], { encoding: 'utf8' });
    expect(missing.status).toBe(127);
    expect(missing.stderr.trim()).toBe('agentd-nounified: /nonexistent/program: No such file or directory');
  });

  it('is the prefix crunWorkaround() gives here; the shell form only without it', async () => {
    expect(await crunWorkaround()).toEqual([helper]);
    const fallback = await crunWorkaround('/nonexistent/agentd-nounified');
    expect(fallback.slice(0, 5)).toEqual(['unshare', '--mount', '--propagation', 'private', '--']);
    expect(fallback.at(-1)).toBe('umount /sys/fs/cgroup/unified && exec "$0" "$@"');
  });
});
