import type { AgentdConfig } from '../config/index.js';
import type { SandboxSpec } from '../isolation/types.js';
import type { Logger } from '../util/logger.js';
import type { AuditEventInput } from '../state/types.js';
import { NetworkService, type NetworkSettings, type SandboxNetView } from './service.js';

export { NetworkService } from './service.js';
export type { NetworkSettings, SandboxNetView } from './service.js';
export { proxyEnv } from './env.js';

/** How long an egress connection's audit event may wait to share a transaction with others. */
const AUDIT_BATCH_MS = 20;

/** What the network service needs of the state store. */
interface NetStore {
  sandboxes: { get(id: string): { tenant: string; profile: string; spec: unknown } | undefined; readonly generation: number };
  audit: { appendWithin(ev: AuditEventInput, withinMs: number): void };
}

export function networkSettings(cfg: AgentdConfig): NetworkSettings {
  const n = cfg.network;
  return {
    proxyPort: n.proxy_port, allow: n.allow, deny: n.deny, profiles: n.profiles, tenants: n.tenants, hosts: n.hosts, hostsOnly: n.dns === 'hosts-only', connectTimeoutMs: n.connect_timeout_ms, verify: n.verify,
  };
}

/** The daemon's network service over its config (read at each use: a reload applies to new connections) and state. */
export function createNetworkService(home: string, config: () => AgentdConfig, store: NetStore, logger: Logger): NetworkService {
  // Each egress connection asks for its sandbox's view: read from the table once, then reused
  // while the table's generation (bumped by every write to it) is unchanged, so a rules change
  // holds for the next connection as before, without a read and a JSON parse per connection.
  const views = new Map<string, { generation: number; view: SandboxNetView | undefined }>();
  let settings: { from: AgentdConfig; value: NetworkSettings } | undefined;
  return new NetworkService({
    home,
    settings: () => {
      const cfg = config();
      if (settings?.from !== cfg) settings = { from: cfg, value: networkSettings(cfg) };
      return settings.value;
    },
    view: (id) => {
      const generation = store.sandboxes.generation;
      const hit = views.get(id);
      if (hit?.generation === generation) return hit.view;
      const rec = store.sandboxes.get(id);
      const spec = (rec?.spec ?? {}) as Partial<SandboxSpec>;
      const view: SandboxNetView | undefined = rec ? { tenant: rec.tenant, profile: rec.profile, network: spec.network ?? 'none', ...(spec.egress ? { egress: spec.egress } : {}) } : undefined;
      if (views.size > 4096) views.clear();
      views.set(id, { generation, view });
      return view;
    },
    audit: (ev) => {
      // Written within AUDIT_BATCH_MS with the other events of that time, in one transaction
      // (AuditRepo.appendWithin: a read of the log, a direct append or the store's close
      // writes them first), so a connection does not pay a commit of its own.
      try {
        store.audit.appendWithin(ev, AUDIT_BATCH_MS);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not write a network audit event');
      }
    },
    logger,
  });
}
