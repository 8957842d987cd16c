import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import type { BackendFactoryContext } from '../../src/isolation/types.js';
import { DaemonBackends } from '../../src/runtime/backends.js';
import { silentLogger } from '../../src/util/logger.js';
import { fakeBackend } from '../isolation/fake-backends.js';

describe('DaemonBackends: options by alias, and the backends recovery asks', () => {
  test('a backend gets its options table whether the config keyed it by name or by alias', () => {
    const seen: BackendFactoryContext[] = [];
    const registry = new BackendRegistry().register('namespace', fakeBackend('namespace', 'kernel', true, seen));
    const set = new DaemonBackends({ registry, initPath: '/x/agentd-init', options: { bwrap: { cgroup_parent: 'mine' } }, profile: 'workstation', requireKernel: false, logger: silentLogger });
    set.get('namespace');
    expect(seen.at(-1)?.options).toEqual({ cgroup_parent: 'mine' });
  });

  test('forRecovery: every implemented backend once; one whose factory throws is skipped (and byName says undefined), never the others', () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') };
    const registry = new BackendRegistry()
      .register('host-direct', fakeBackend('host-direct', 'none', true))
      .register('broken', () => {
        throw new AgentdError('INVALID_CONFIG', 'bad options');
      })
      .register('namespace', fakeBackend('namespace', 'kernel', true));
    const set = new DaemonBackends({ registry, initPath: '/x/agentd-init', options: {}, profile: 'workstation', requireKernel: false, logger });
    const rec = set.forRecovery();
    expect(rec.all().map((b) => b.name).sort()).toEqual(['host-direct', 'namespace']);
    expect(rec.byName('broken')).toBeUndefined();
    expect(rec.byName('namespace')?.name).toBe('namespace');
    expect(warnings).toContain('backend not available for recovery');
  });
});
