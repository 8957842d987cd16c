import type { z } from 'zod';
import { AgentdError, toAgentdError } from '../core/errors.js';
import { detectBest, type DetectOptions } from './detect.js';
import { BACKEND_NAME_PATTERN, BUILTIN_BACKENDS, findBuiltinBackend } from './names.js';
import { unavailableProbe } from './probe-util.js';
import { assertProfileAllows } from './profile-guard.js';
import type { BackendFactory, BackendFactoryContext, BackendProbe, IsolationBackend, IsolationLevel, ProfileName } from './types.js';

export interface RegisterOptions {
  /** Extra names for the backend. A built-in name always gets its built-in aliases too. */
  aliases?: readonly string[];
  /** What it isolates with, used for hints before probing (built-ins: from the name table). */
  isolation?: IsolationLevel;
  /** Schema of its `isolation.backends.<name>` table, so `agentd config check` can validate it without creating the backend. */
  optionsSchema?: z.ZodType;
}

/** A problem in a backend's options table (same shape as a config issue). */
export interface BackendOptionsIssue {
  path: string;
  message: string;
}

export interface BackendInfo {
  name: string;
  aliases: string[];
  /** false: a reserved name with no factory ("not implemented yet"). */
  implemented: boolean;
  isolation: IsolationLevel | undefined;
}

/** What probeAll() needs to create each backend: the factory context without per-backend options. */
export interface ProbeContext extends Omit<BackendFactoryContext, 'options'> {
  /** Per-backend options by canonical name (config isolation.backends). */
  options?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  signal?: AbortSignal;
}

interface Entry {
  name: string;
  aliases: string[];
  isolation: IsolationLevel | undefined;
  factory: BackendFactory | undefined;
  optionsSchema?: z.ZodType | undefined;
}

const normalize = (name: string): string => name.trim().toLowerCase();

/**
 * Isolation backends by name and alias. Holds factories only; the built-in backends are
 * registered by the caller (the registry imports no backend code), so tests and users can
 * register their own. Reserved built-in names (linux-native, oci, gvisor, podman,
 * firecracker) are known from the start and resolve to a "not implemented yet" error
 * until a factory is registered for them.
 */
export class BackendRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #aliases = new Map<string, string>();

  constructor() {
    for (const b of BUILTIN_BACKENDS) {
      if (b.implemented) continue;
      this.#entries.set(b.name, { name: b.name, aliases: [...b.aliases], isolation: b.isolation, factory: undefined });
      for (const a of b.aliases) this.#aliases.set(a, b.name);
    }
  }

  /** Adds a backend (or implements a reserved name). A name or alias taken by another implemented backend is an error. */
  register(name: string, factory: BackendFactory, opts: RegisterOptions = {}): this {
    const canonical = normalize(name);
    const builtin = findBuiltinBackend(canonical);
    if (builtin && builtin.name !== canonical) {
      throw new AgentdError('ALREADY_EXISTS', `'${canonical}' is an alias of the built-in backend '${builtin.name}'; register under another name`);
    }
    const aliases = [...new Set([...(builtin?.aliases ?? []), ...(opts.aliases ?? []).map(normalize)])].filter((a) => a !== canonical);
    for (const n of [canonical, ...aliases]) {
      if (!BACKEND_NAME_PATTERN.test(n)) {
        throw new AgentdError('INVALID_ARGUMENT', `backend name '${n}' is not valid: use lower-case letters, digits and dashes, starting with a letter`);
      }
      const holder = this.#entries.get(n)?.name ?? this.#aliases.get(n);
      if (holder !== undefined && holder !== canonical && this.#entries.get(holder)?.factory !== undefined) {
        throw new AgentdError('ALREADY_EXISTS', `backend name '${n}' is already taken by backend '${holder}'`);
      }
    }
    const previous = this.#entries.get(canonical);
    if (previous?.factory !== undefined) {
      throw new AgentdError('ALREADY_EXISTS', `backend '${canonical}' is already registered`);
    }
    // Take over names held by reserved entries (a user may implement e.g. 'docker' on its own).
    for (const a of aliases) {
      const holder = this.#aliases.get(a);
      const held = holder === undefined ? undefined : this.#entries.get(holder);
      if (held && held.name !== canonical) held.aliases = held.aliases.filter((x) => x !== a);
      this.#aliases.set(a, canonical);
    }
    this.#entries.set(canonical, {
      name: canonical,
      aliases: [...new Set([...(previous?.aliases ?? []), ...aliases])],
      isolation: opts.isolation ?? builtin?.isolation ?? previous?.isolation,
      factory,
      optionsSchema: opts.optionsSchema,
    });
    return this;
  }

  /** The canonical name for a name or alias. UNKNOWN_BACKEND lists every known name; a reserved one is BACKEND_UNAVAILABLE. */
  resolve(nameOrAlias: string): string {
    const entry = this.#lookup(nameOrAlias);
    if (!entry) {
      throw new AgentdError('UNKNOWN_BACKEND', `unknown isolation backend '${nameOrAlias}'; known backends: ${this.#describeKnown()}`, {
        details: { name: nameOrAlias, known: this.list().map((b) => ({ name: b.name, aliases: b.aliases, implemented: b.implemented })) },
      });
    }
    if (entry.factory === undefined) {
      const via = entry.name === normalize(nameOrAlias) ? '' : ` (alias '${normalize(nameOrAlias)}')`;
      const usable = this.list().filter((b) => b.implemented).map((b) => `'${b.name}'`);
      throw new AgentdError('BACKEND_UNAVAILABLE', `isolation backend '${entry.name}'${via} is not implemented yet${usable.length ? `; use ${usable.join(' or ')}` : ''}`, {
        details: { name: entry.name, requested: nameOrAlias, implemented: false },
      });
    }
    return entry.name;
  }

  /** True if the name or alias is known and implemented. */
  has(nameOrAlias: string): boolean {
    return this.#lookup(nameOrAlias)?.factory !== undefined;
  }

  /** Every known backend, implemented ones first, in registration order. */
  list(): BackendInfo[] {
    const all = [...this.#entries.values()].map((e) => ({ name: e.name, aliases: [...e.aliases], implemented: e.factory !== undefined, isolation: e.isolation }));
    return [...all.filter((b) => b.implemented), ...all.filter((b) => !b.implemented)];
  }

  /**
   * Checks `isolation.backends` tables against the schemas given at registration: every
   * problem as `isolation.backends.<key>.<field>: message`. A table for a name no backend
   * answers to is a problem too (a typo would otherwise be ignored); reserved names may
   * carry options ahead of their implementation.
   */
  checkOptions(backends: Readonly<Record<string, Readonly<Record<string, unknown>>>>): BackendOptionsIssue[] {
    return Object.entries(backends).flatMap(([key, options]): BackendOptionsIssue[] => {
      const entry = this.#lookup(key);
      if (!entry) return [{ path: `isolation.backends.${key}`, message: `no backend is named '${key}'; known backends: ${this.#describeKnown()}` }];
      const result = entry.optionsSchema?.safeParse(options);
      if (!result || result.success) return [];
      return result.error.issues.map((i) => ({
        path: ['isolation', 'backends', key, ...i.path.map(String)].join('.'),
        message: i.code === 'unrecognized_keys' ? `unknown key(s): ${i.keys.join(', ')}` : i.message,
      }));
    });
  }

  /** A new backend instance from its factory. */
  create(nameOrAlias: string, ctx: BackendFactoryContext): IsolationBackend {
    const name = this.resolve(nameOrAlias);
    const factory = this.#entries.get(name)?.factory;
    if (!factory) throw new AgentdError('INTERNAL', `backend '${name}' lost its factory`);
    return factory(ctx);
  }

  /**
   * Probes every known backend (reserved ones reported as not implemented). A factory or
   * probe that throws yields an unavailable probe carrying the error message, so one broken
   * backend never hides the others.
   */
  async probeAll(ctx: ProbeContext): Promise<BackendProbe[]> {
    const { options, signal, ...base } = ctx;
    signal?.throwIfAborted();
    const probes = await Promise.all(
      this.list().map(async (b): Promise<BackendProbe> => {
        if (!b.implemented) return unavailableProbe(b.name, b.isolation ?? 'kernel', 'not implemented yet');
        try {
          const backend = this.create(b.name, { ...base, options: { ...(options?.[b.name] ?? {}) } });
          return await backend.probe();
        } catch (err) {
          return unavailableProbe(b.name, b.isolation ?? 'none', `probe failed: ${toAgentdError(err).message}`);
        }
      }),
    );
    signal?.throwIfAborted();
    return probes;
  }

  /** The best available backend among the probes (see detect.ts). */
  detectBest(probes: readonly BackendProbe[], opts: DetectOptions = {}): string {
    return detectBest(probes, opts);
  }

  /** Refuses a backend the profile does not allow (see profile-guard.ts); the hint names a registered kernel backend. */
  assertProfileAllows(profile: ProfileName, backendName: string, probe: BackendProbe, opts: { requireKernel?: boolean } = {}): void {
    assertProfileAllows(profile, backendName, probe, { ...opts, kernelHint: this.#kernelHint() });
  }

  #lookup(nameOrAlias: string): Entry | undefined {
    const n = normalize(nameOrAlias);
    return this.#entries.get(n) ?? this.#entries.get(this.#aliases.get(n) ?? '');
  }

  #describeKnown(): string {
    return this.list()
      .map((b) => `${b.name}${b.aliases.length ? ` (${b.aliases.join(', ')})` : ''}${b.implemented ? '' : ' [not implemented yet]'}`)
      .join(', ');
  }

  #kernelHint(): string {
    const order = (name: string): number => {
      const i = BUILTIN_BACKENDS.findIndex((b) => b.name === name);
      return i === -1 ? BUILTIN_BACKENDS.length : i;
    };
    const kernel = this.list()
      .filter((b) => b.implemented && b.isolation === 'kernel')
      .sort((a, b) => order(a.name) - order(b.name))[0];
    if (!kernel) return 'a backend with kernel isolation';
    return `backend '${kernel.name}'${kernel.aliases[0] ? ` (${kernel.aliases[0]})` : ''}`;
  }
}
