import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/config/index.js';
import { chooseBackend, selectBackend } from '../../src/isolation/select.js';
import type { BackendFactoryContext, BackendProbe } from '../../src/isolation/types.js';
import { fakeBuiltins, probeOf } from './fake-backends.js';

function setup(nsAvailable: boolean) {
  const seen: BackendFactoryContext[] = [];
  const warnings: string[] = [];
  const registry = fakeBuiltins(nsAvailable, seen);
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

describe('chooseBackend (ranking and guard shared by the daemon and the CLI)', () => {
  const registry = fakeBuiltins(true);
  const soft = probeOf('host-direct', 'none', true);
  const kernel = (available: boolean) => probeOf('namespace', 'kernel', available);
  const choose = (req: { profile?: 'workstation' | 'server' | 'paranoid'; backend: string; requireKernel?: boolean }, probes: BackendProbe[]) => {
    const opened: string[] = [];
    const run = () => chooseBackend(registry, { profile: req.profile ?? 'workstation', backend: req.backend, requireKernel: req.requireKernel ?? false }, probes, (n) => {
      opened.push(n);
      return `instance of ${n}`;
    });
    return { run, opened };
  };

  test('auto ranks the given probes, opens only the winner and returns it with its probe', () => {
    const { run, opened } = choose({ backend: 'auto' }, [soft, kernel(true)]);
    expect(run()).toEqual({ name: 'namespace', backend: 'instance of namespace', probe: kernel(true) });
    expect(opened).toEqual(['namespace']);
  });

  test('auto under workstation falls back to the available soft backend', () => {
    expect(choose({ backend: 'auto' }, [soft, kernel(false)]).run().name).toBe('host-direct');
  });

  const fails = (code: string, message?: string | RegExp): unknown =>
    expect.objectContaining({ name: 'AgentdError', code, ...(message === undefined ? {} : { message: typeof message === 'string' ? message : expect.stringMatching(message) }) });

  test('auto with require_kernel and no working kernel backend is ISOLATION_REQUIRED, and nothing is opened', () => {
    const { run, opened } = choose({ backend: 'auto', requireKernel: true }, [soft, kernel(false)]);
    expect(run).toThrow(fails('ISOLATION_REQUIRED', /namespace: namespace missing here/));
    expect(opened).toEqual([]);
  });

  test('an alias opens the canonical backend; the guard names the alias as requested', () => {
    const ok = choose({ profile: 'server', backend: 'bwrap' }, [soft, kernel(true)]);
    expect(ok.run().name).toBe('namespace');
    expect(ok.opened).toEqual(['namespace']);
    expect(choose({ profile: 'paranoid', backend: 'bwrap' }, [soft, kernel(false)]).run).toThrow(
      fails('ISOLATION_REQUIRED', /backend 'bwrap' \(namespace\) is not available on this host \(namespace missing here\)/),
    );
  });

  test('a soft backend named under server is ISOLATION_REQUIRED; under workstation it is accepted', () => {
    expect(choose({ profile: 'server', backend: 'host-direct' }, [soft, kernel(true)]).run).toThrow(
      fails('ISOLATION_REQUIRED', "profile 'server' requires kernel isolation, but backend 'host-direct' provides none; use backend 'namespace' (bwrap) or profile 'workstation'"),
    );
    expect(choose({ backend: 'host-direct' }, [soft]).run().probe).toBe(soft);
  });

  test('a backend missing from the probes is refused (fail closed), after it was opened', () => {
    const { run, opened } = choose({ backend: 'namespace' }, [soft]);
    expect(run).toThrow(fails('BACKEND_UNAVAILABLE', "backend 'namespace' was not probed; it cannot be used until it is"));
    expect(opened).toEqual(['namespace']);
  });

  test('an unknown name is UNKNOWN_BACKEND and a reserved one BACKEND_UNAVAILABLE, before anything is opened', () => {
    const unknown = choose({ backend: 'my-vm' }, [soft, kernel(true)]);
    expect(unknown.run).toThrow(fails('UNKNOWN_BACKEND'));
    const reserved = choose({ backend: 'firecracker' }, [soft, kernel(true)]);
    expect(reserved.run).toThrow(fails('BACKEND_UNAVAILABLE', /not implemented yet/));
    expect([...unknown.opened, ...reserved.opened]).toEqual([]);
  });
});
