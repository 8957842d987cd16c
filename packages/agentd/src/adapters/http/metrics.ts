import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isErrorCode } from '../../core/codes.js';
import type { IntentStatus } from '../../core/intent.js';
import type { PipelineObserver } from '../../pipeline/pipeline.js';
import type { ManagerStats } from '../../sandbox/types.js';
import type { SandboxState } from '../../state/types.js';

export interface MetricsSources {
  sandboxesByState(): Partial<Record<SandboxState, number>>;
  stats(): ManagerStats;
  /** Every capability id the daemon serves ("shell.exec.v1"): the only capability label values besides "unknown". */
  capabilities?: readonly string[];
}

/** The label of anything not in a known set: a caller's input never makes a new series. */
export const UNKNOWN_LABEL = 'unknown';
const INTENT_STATUSES: ReadonlySet<string> = new Set<IntentStatus>(['ok', 'denied', 'error', 'expired', 'cancelled', 'pending']);

/**
 * The daemon's Prometheus metrics, on a Registry of its own (two daemons in one process,
 * as in tests, never share counters). Gauges are read from their sources at scrape time.
 */
export class DaemonMetrics implements PipelineObserver {
  readonly registry = new Registry();
  private readonly intents: Counter<'capability' | 'status' | 'code'>;
  private readonly execLatency: Histogram;
  private readonly capabilities: ReadonlySet<string>;

  constructor(sources: MetricsSources) {
    this.capabilities = new Set(sources.capabilities ?? []);
    collectDefaultMetrics({ register: this.registry, prefix: 'agentd_process_' });
    this.intents = new Counter({
      name: 'agentd_intents_total',
      help: 'Intents handled, by capability, status and code.',
      labelNames: ['capability', 'status', 'code'],
      registers: [this.registry],
    });
    this.execLatency = new Histogram({
      name: 'agentd_exec_duration_seconds',
      help: 'Wall-clock time of shell.exec commands in the sandbox.',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    new Gauge({
      name: 'agentd_sandboxes',
      help: 'Sandboxes known to the daemon, by state.',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [state, n] of Object.entries(sources.sandboxesByState())) this.set({ state }, n ?? 0);
      },
    });
    const counterFrom = (name: string, help: string, read: (s: ManagerStats) => number): void => {
      new Gauge({ name, help, registers: [this.registry], collect() { this.set(read(sources.stats())); } });
    };
    counterFrom('agentd_pool_hits_total', 'Sandbox creations served from the warm pool.', (s) => s.poolHits);
    counterFrom('agentd_pool_misses_total', 'Plain sandbox creations the warm pool could not serve.', (s) => s.poolMisses);
    counterFrom('agentd_pool_size', 'Warm sandboxes ready now.', (s) => s.poolSize);
    counterFrom('agentd_sandboxes_created_total', 'Sandboxes started by a backend (pool fills included).', (s) => s.created);
    counterFrom('agentd_sandbox_create_seconds_avg', 'Average start-to-ready time of a sandbox.', (s) => s.avgCreateMs / 1000);
    counterFrom('agentd_sandbox_timeout_destroys_total', 'Sandboxes destroyed by a TTL or session timeout.', (s) => s.timeoutDestroys);
  }

  /**
   * Labels only from known values: a capability the daemon serves (by id, or by name for
   * v1), a known status, a registered error code; anything else is "unknown".
   */
  intentDone(capability: string, status: IntentStatus, code: string): void {
    const cap = this.capabilities.has(capability) ? capability : this.capabilities.has(`${capability}.v1`) ? `${capability}.v1` : UNKNOWN_LABEL;
    this.intents.inc({
      capability: cap,
      status: INTENT_STATUSES.has(status) ? status : UNKNOWN_LABEL,
      code: code === 'OK' || isErrorCode(code) ? code : UNKNOWN_LABEL,
    });
  }

  execDone(seconds: number): void {
    this.execLatency.observe(seconds);
  }
}
