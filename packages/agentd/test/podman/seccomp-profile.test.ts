/**
 * The podman seccomp profile carries gen.c's rules: the lists are read from gen.c itself (so
 * an added rule there fails here until the profile has it), and the profile's shape is what
 * runc's libseccomp expects.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { DENIED_FAMILIES, DENIED_IOCTLS, DENIED_PERSONALITY, DENY_ALWAYS, NS_FLAGS, seccompProfile } from '../../src/isolation/podman/seccomp-profile.js';

const GEN = readFileSync(fileURLToPath(new URL('../../native/seccomp/gen.c', import.meta.url)), 'utf8');

function block(name: string): string {
  const start = GEN.indexOf(name);
  expect(start).toBeGreaterThan(-1);
  return GEN.slice(start, GEN.indexOf('};', start));
}

describe('podman seccomp profile = gen.c', () => {
  test('DENY_ALWAYS: same names, same errno', () => {
    const fromC = [...block('DENY_ALWAYS[]').matchAll(/\{"(\w+)", (E[A-Z]+)\}/g)].map((m) => [m[1], m[2]]);
    const errno: Record<string, number> = { EPERM: 1, ENOSYS: 38 };
    expect(fromC.length).toBeGreaterThan(40);
    expect(DENY_ALWAYS.map(([n, e]) => [n, e])).toEqual(fromC.map(([n, e]) => [n, errno[e as string]]));
  });

  test('namespace flags, socket families, personality flags and ioctls: the same constants', () => {
    const names = (b: string): string[] => [...block(b).split('=')[1]!.matchAll(/([A-Z][A-Z_0-9]+)/g)].map((m) => m[1] as string);
    expect(names('NS_FLAGS[]')).toEqual(['CLONE_NEWUSER', 'CLONE_NEWNS', 'CLONE_NEWPID', 'CLONE_NEWNET', 'CLONE_NEWUTS', 'CLONE_NEWIPC', 'CLONE_NEWCGROUP', 'CLONE_NEWTIME']);
    expect(NS_FLAGS).toEqual([0x10000000, 0x20000, 0x20000000, 0x40000000, 0x4000000, 0x8000000, 0x2000000, 0x80]);
    expect(names('DENIED_FAMILIES[]')).toEqual(['AF_NETLINK', 'AF_PACKET', 'AF_VSOCK']);
    expect(DENIED_FAMILIES).toEqual([16, 17, 40]);
    expect(names('DENIED_PERSONALITY[]')).toEqual(['PER_ADDR_NO_RANDOMIZE', 'PER_MMAP_PAGE_ZERO', 'PER_ADDR_COMPAT_LAYOUT', 'PER_READ_IMPLIES_EXEC']);
    expect(DENIED_PERSONALITY).toEqual([0x40000, 0x100000, 0x200000, 0x400000]);
    expect(names('DENIED_IOCTLS[]')).toEqual(['TIOCSTI', 'TIOCLINUX']);
    expect(DENIED_IOCTLS).toEqual([0x5412, 0x541c]);
  });

  test('the profile allows by default and refuses with errno; masked compares carry mask and value', () => {
    const p = seccompProfile();
    expect(p.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(p.architectures).toHaveLength(1);
    expect(p.syscalls.every((r) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet > 0)).toBe(true);
    const unshare = p.syscalls.filter((r) => r.names.includes('unshare'));
    expect(unshare.map((r) => r.args?.[0])).toContainEqual({ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' });
    expect(p.syscalls.find((r) => r.names.includes('clone3'))?.errnoRet).toBe(38);
  });
});
