import { stricterProfile } from '../core/ranking.js';
import type { BackendRegistry } from '../isolation/registry.js';
import { assertProbedBackendAllowed } from '../isolation/select.js';
import type { BackendProbe, IsolationBackend, ProfileName } from '../isolation/types.js';
import type { BackendSet } from '../sandbox/types.js';
import type { Logger } from '../util/logger.js';
import type { RecoveryBackends } from './recovery.js';

export interface DaemonBackendsOptions {
  registry: BackendRegistry;
  initPath: string;
  /** config isolation.backends, by name or alias. */
  options: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** The daemon's profile: a sandbox never gets weaker isolation than it demands. */
  profile: ProfileName;
  requireKernel: boolean;
  logger: Logger;
}


/**
 * The backends of one daemon: one instance per backend (created on first use), their probes
 * taken once at start, and the profile guard applied with the daemon's and the request's
 * profile (the stricter wins).
 */
export class DaemonBackends implements BackendSet {
  private readonly instances = new Map<string, IsolationBackend>();
  private readonly probes = new Map<string, BackendProbe>();

  constructor(private readonly opts: DaemonBackendsOptions) {}

  /** Probes every implemented backend (unavailable ones say why). */
  async probeAll(): Promise<BackendProbe[]> {
    const probes = await this.opts.registry.probeAll({ initPath: this.opts.initPath, logger: this.opts.logger, options: this.normalizedOptions() });
    for (const p of probes) this.probes.set(p.backend, p);
    return probes;
  }

  probeOf(name: string): BackendProbe | undefined {
    return this.probes.get(this.canonical(name));
  }

  canonical(nameOrAlias: string): string {
    return this.opts.registry.resolve(nameOrAlias);
  }

  get(nameOrAlias: string): IsolationBackend {
    const name = this.canonical(nameOrAlias);
    let backend = this.instances.get(name);
    if (!backend) {
      backend = this.opts.registry.create(name, { initPath: this.opts.initPath, logger: this.opts.logger, options: { ...(this.normalizedOptions()[name] ?? {}) } });
      this.instances.set(name, backend);
    }
    return backend;
  }

  /**
   * For start-up recovery (recovery.ts): an instance of every implemented backend; one whose
   * factory throws (bad options) is skipped and said in the log; `byName` is the instance of
   * a record's backend, undefined when it cannot be made (the shared default then applies).
   */
  forRecovery(): RecoveryBackends {
    const tryGet = (name: string): IsolationBackend | undefined => {
      try {
        return this.get(name);
      } catch (err) {
        this.opts.logger.warn({ backend: name, err: (err as Error).message }, 'backend not available for recovery');
        return undefined;
      }
    };
    return {
      all: () => this.opts.registry.list().filter((b) => b.implemented).flatMap((b) => tryGet(b.name) ?? []),
      byName: (name) => tryGet(name),
    };
  }

  /** Closes every backend this daemon created (the default one and any a request named: a podman service, spare volumes), each once; one failing does not keep the others open. */
  async closeAll(): Promise<void> {
    const all = [...this.instances.values()];
    this.instances.clear();
    const results = await Promise.allSettled(all.map(async (b) => b.close?.()));
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') this.opts.logger.warn({ backend: all[i]?.name, err: (r.reason as Error).message }, 'could not close a backend');
    }
  }

  assertProfileAllows(profile: ProfileName, backend: IsolationBackend): void {
    const strictest = stricterProfile(profile, this.opts.profile);
    assertProbedBackendAllowed(this.opts.registry, strictest, backend.name, this.probes.get(backend.name), { requireKernel: this.opts.requireKernel });
  }

  private normalizedOptions(): Record<string, Readonly<Record<string, unknown>>> {
    const out: Record<string, Readonly<Record<string, unknown>>> = {};
    for (const [k, v] of Object.entries(this.opts.options)) {
      try {
        out[this.canonical(k)] = v;
      } catch {
        out[k] = v;
      }
    }
    return out;
  }
}
