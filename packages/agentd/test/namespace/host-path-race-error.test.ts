/**
 * hostPathRaceError: bwrap's failures on a pinned host path that moved after the daemon checked
 * it are the race the pinning defends against (POLICY_DENIED, rule "changed"); any other bwrap
 * failure stays what it was. The messages are bwrap's own, as seen in test/attack/paths-race.
 */
import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import type { HostPathRules } from '../../src/isolation/host-paths.js';
import { hostPathRaceError } from '../../src/isolation/namespace/backend.js';
import type { SandboxSpec } from '../../src/isolation/types.js';

const root = '/srv/agentd-roots';
const spec = { dirs: { root: '/var/lib/agentd/sandboxes/sbx_a', workspace: '/var/lib/agentd/sandboxes/sbx_a/volume/workspace' } } as unknown as SandboxSpec;
const rules: HostPathRules = { roots: [root], protectedPaths: [], config: { allowedPathsRo: [], allowedPathsRw: [], denyPaths: [] } };
// Two wanted host mounts: bwrap gets their descriptors as fds 4 and 5 (after the seccomp filter's 3).
const wanted = [
  { given: `${root}/swap/sub`, target: '/workspace/b', readonly: true, what: 'bind_mounts[0].source' },
  { given: `${root}/swap/sub`, target: `${root}/swap/sub`, readonly: true, what: 'allowed_paths_ro[0]' },
];
const dead = (stderrTail: string) => new AgentdError('SANDBOX_DEAD', `agentd-init exited with code 1 before it was READY; its stderr ends with: ${stderrTail}`, { details: { exitCode: 1, stderrTail } });

describe('hostPathRaceError', () => {
  test.each([
    ['the descriptor of a pinned path, gone when bwrap resolves it', "bwrap: Can't find source path /proc/self/fd/4: No such file or directory"],
    ['the second pinned descriptor', "bwrap: Can't find source path /proc/self/fd/5: No such file or directory"],
    ["bwrap's own inode check", 'bwrap: Race condition binding dirfd'],
    ['a host path under a root', `bwrap: Can't find source path ${root}/swap/sub: No such file or directory`],
    ['a host path under a root, after pivot', `bwrap: Can't bind mount /oldroot${root}/swap/sub on /newroot/workspace/b: No such file or directory`],
  ])('%s -> POLICY_DENIED rule changed', (_what, tail) => {
    const err = hostPathRaceError(dead(tail), spec, rules, wanted);
    expect(err).toBeInstanceOf(AgentdError);
    expect(err?.code).toBe('POLICY_DENIED');
    expect(err?.details).toMatchObject({ rule: 'changed', fields: ['bind_mounts[0].source', 'allowed_paths_ro[0]'] });
    expect(err?.message).toContain(tail.replace(/^bwrap: /, ''));
  });

  test.each([
    ['a descriptor that is no pinned host path (the seccomp filter)', "bwrap: Can't find source path /proc/self/fd/3: No such file or directory"],
    ['a descriptor past the pinned ones', "bwrap: Can't find source path /proc/self/fd/6: No such file or directory"],
    ["the sandbox's own folder", "bwrap: Can't find source path /var/lib/agentd/sandboxes/sbx_a/volume/workspace: No such file or directory"],
    ['a path outside the roots', "bwrap: Can't find source path /usr/lib/x: No such file or directory"],
    ['another failure', 'bwrap: Creating new namespace failed: Operation not permitted'],
  ])('%s is left alone', (_what, tail) => {
    expect(hostPathRaceError(dead(tail), spec, rules, wanted)).toBeUndefined();
  });

  test('without pinned host paths a /proc/self/fd path is not a host-path race', () => {
    expect(hostPathRaceError(dead("bwrap: Can't find source path /proc/self/fd/4: No such file or directory"), spec, rules, [])).toBeUndefined();
  });
});
