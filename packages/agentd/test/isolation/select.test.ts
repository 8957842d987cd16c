import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/config/index.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import { selectBackend } from '../../src/isolation/select.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import type { BackendFactory, BackendFactoryContext, BackendProbe, IsolationLevel } from '../../src/isolation/types.js';

function probeOf(backend: string, isolation: IsolationLevel, available: boolean): BackendProbe {
  if (!available) return unavailableProbe(backend, isolation, `${backend} missing here`);
  const on = { ok: true };
  return { backend, available, isolation, features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on } };
}

function fake(name: string, isolation: IsolationLevel, available: boolean, seen: BackendFactoryContext[]): BackendFactory {
  return (c) => {
    seen.push(c);
    return { name, isolation, probe: async () => probeOf(name, isolation, available), start: async () => { throw new AgentdError('INTERNAL', 'fake'); } };
  };
}

function setup(nsAvailable: boolean) {
  const seen: BackendFactoryContext[] = [];
  const warnings: string[] = [];
  const registry = new BackendRegistry()
    .register('host-direct', fake('host-direct', 'none', true, seen))
    .register('namespace', fake('namespace', 'kernel', nsAvailable, seen));
  const logger = { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => void warnings.push(m ?? '') };
  return { registry, seen, warnings, ctx: { initPath: '/x/agentd-init', logger } };
}

const cfg = (obj: Record<string, unknown>) => parseConfig(obj, { HOME: '/home/alice' }, { uid: 1000 });

async function rejection(p: Promise<unknown>): Promise<AgentdError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof AgentdError)) throw new Error(`expected AgentdError, got ${String(err)}`);
  return err;
}

describe('selectBackend', () => {
  test('auto picks namespace when it works, with its options', async () => {
    const { registry, seen, ctx } = setup(true);
    const sel = await selectBackend(registry, cfg({ isolation: { backends: { bwrap: { seccomp: true } } } }), ctx);
    expect(sel.name).toBe('namespace');
    expect(sel.probe.isolation).toBe('kernel');
    expect(seen.at(-1)?.options).toEqual({ seccomp: true });
  });

  test('auto falls back to host-direct under workstation, with a loud warning', async () => {
    const { registry, warnings, ctx } = setup(false);
    const sel = await selectBackend(registry, cfg({}), ctx);
    expect(sel.name).toBe('host-direct');
    expect(warnings.join('\n')).toContain("'host-direct' provides NO isolation");
  });

  test('auto under server with no kernel backend available is ISOLATION_REQUIRED', async () => {
    const { registry, ctx } = setup(false);
    const err = await rejection(selectBackend(registry, cfg({ profile: 'server' }), ctx));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("profile 'server' requires kernel isolation");
    expect(err.message).toContain('namespace missing here');
  });

  test('an alias is resolved and checked against the profile', async () => {
    const { registry, ctx } = setup(true);
    expect((await selectBackend(registry, cfg({ profile: 'paranoid', isolation: { backend: 'bwrap' } }), ctx)).name).toBe('namespace');
  });

  test('a named but unavailable kernel backend under server names profile, backend and reason', async () => {
    const { registry, ctx } = setup(false);
    const err = await rejection(selectBackend(registry, cfg({ profile: 'server', isolation: { backend: 'bwrap' } }), ctx));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toBe("profile 'server' requires kernel isolation, but backend 'bwrap' (namespace) is not available on this host (namespace missing here); fix that (see 'agentd doctor') or use profile 'workstation'");
  });

  test('an unknown user backend name is UNKNOWN_BACKEND at selection', async () => {
    const { registry, ctx } = setup(true);
    expect((await rejection(selectBackend(registry, cfg({ isolation: { backend: 'my-vm' } }), ctx))).code).toBe('UNKNOWN_BACKEND');
  });
});
