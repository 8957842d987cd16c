import type { AgentdConfig } from '../config/index.js';
import type { SandboxSpec } from '../isolation/types.js';
import type { Logger } from '../util/logger.js';
import type { AuditEventInput } from '../state/types.js';
import { NetworkService, type NetworkSettings } from './service.js';

export { NetworkService } from './service.js';
export type { NetworkSettings, SandboxNetView } from './service.js';
export { proxyEnv } from './env.js';

/** What the network service needs of the state store. */
interface NetStore {
  sandboxes: { get(id: string): { tenant: string; profile: string; spec: unknown } | undefined };
  audit: { append(ev: AuditEventInput): number };
}

export function networkSettings(cfg: AgentdConfig): NetworkSettings {
  const n = cfg.network;
  return {
    proxyPort: n.proxy_port, allow: n.allow, deny: n.deny, profiles: n.profiles, tenants: n.tenants, hosts: n.hosts, hostsOnly: n.dns === 'hosts-only', connectTimeoutMs: n.connect_timeout_ms, verify: n.verify,
  };
}

/** The daemon's network service over its config (read at each use: a reload applies to new connections) and state. */
export function createNetworkService(home: string, config: () => AgentdConfig, store: NetStore, logger: Logger): NetworkService {
  return new NetworkService({
    home,
    settings: () => networkSettings(config()),
    view: (id) => {
      const rec = store.sandboxes.get(id);
      if (!rec) return undefined;
      const spec = (rec.spec ?? {}) as Partial<SandboxSpec>;
      return { tenant: rec.tenant, profile: rec.profile, network: spec.network ?? 'none', ...(spec.egress ? { egress: spec.egress } : {}) };
    },
    audit: (ev) => {
      try {
        store.audit.append(ev);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not write a network audit event');
      }
    },
    logger,
  });
}
