import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import { AgentdError } from '../core/errors.js';
import type { SandboxSpec } from '../isolation/types.js';
import type { AuditEventInput } from '../state/types.js';
import type { Logger } from '../util/logger.js';
import { ownAddresses } from './address.js';
import { DECISION_CODES, type Decision, type RuleLayer } from './policy.js';
import { handleEgress, type EgressEvent } from './proxy.js';
import { EgressResolver } from './resolver.js';
import { exposePort, openSandboxPort, parsePublish, type ExposedPort, type PortRelayDeps } from './ports.js';
import type { SandboxHandle } from '../isolation/types.js';
import type { VerifyTargets } from './verify.js';
import { parseRules, uncovered, type Rule, type RuleText } from './rules.js';

/** The network part of the daemon's config (config `network`). */
export interface NetworkSettings {
  proxyPort: number;
  allow: readonly string[];
  deny: readonly string[];
  profiles: Readonly<Record<string, RuleText>>;
  tenants: Readonly<Record<string, RuleText>>;
  hosts: Readonly<Record<string, readonly string[]>>;
  hostsOnly: boolean;
  connectTimeoutMs: number;
  verify: VerifyTargets;
}

/** What the service needs to know of a sandbox when a connection comes (read each time: rules may change). */
export interface SandboxNetView {
  tenant?: string;
  profile: string;
  network: string;
  egress?: RuleText;
}

/** What a verify run adds for its sandbox: names, their addresses, and which may reach a refused address. */
export interface VerifyOverlay {
  hosts: Record<string, string[]>;
  allow: string[];
  exempt(host: string, address: string, port: number): boolean;
}

export interface NetworkServiceDeps {
  home: string;
  settings(): NetworkSettings;
  /** The sandbox as recorded now (undefined: not recorded, e.g. a warm one). */
  view(id: string): SandboxNetView | undefined;
  audit(ev: AuditEventInput): void;
  registry?: Registry;
  logger: Logger;
}

interface Attached {
  dir: string;
  egress: Server;
  portsSock: Server;
  /** The spec it was started with (mode and rules of a sandbox not recorded yet). */
  spec: SandboxSpec;
  /** Port-relay connections waiting for the init's helper, by hex token. */
  pending: Map<string, (sock: Socket, status: number) => void>;
  /** The running sandbox (set once its init is ready). */
  handle?: SandboxHandle;
  exposed: ExposedPort[];
}

/**
 * Per-sandbox network endpoints on the host: `<home>/net/<id>/` (the daemon's, 0755, bound
 * read-only into the sandbox at /.agentd/net) holds `egress.sock` (the egress proxy) and
 * `ports.sock` (port relays coming back from the init). The daemon only ever listens on these
 * sockets in its own folder: it never connects to, nor follows, a path the sandbox can write.
 */
export class NetworkService {
  private readonly attached = new Map<string, Attached>();
  /** Probe-only names added while `network verify` runs (network/verify.ts). */
  private readonly overlays = new Map<string, VerifyOverlay>();
  private readonly resolver: EgressResolver;
  private own: { at: number; set: ReadonlySet<string> } = { at: 0, set: new Set() };
  private decisions?: Counter<'decision' | 'code' | 'protocol'>;
  private bytes?: Counter<'direction'>;

  constructor(private readonly deps: NetworkServiceDeps) {
    this.resolver = new EgressResolver(() => {
      const s = deps.settings();
      return { hosts: s.hosts, hostsOnly: s.hostsOnly, timeoutMs: s.connectTimeoutMs };
    });
    if (deps.registry) this.useRegistry(deps.registry);
  }

  /** Registers the Prometheus counters (once). */
  useRegistry(registry: Registry): void {
    if (this.decisions) return;
    {
      this.decisions = new Counter({
        name: 'agentd_egress_connections_total',
        help: 'Egress proxy connections decided, by decision (allowed/denied), reason code and protocol.',
        labelNames: ['decision', 'code', 'protocol'],
        registers: [registry],
      });
      this.bytes = new Counter({ name: 'agentd_egress_bytes_total', help: 'Bytes relayed by the egress proxy, by direction (up: sandbox to upstream).', labelNames: ['direction'], registers: [registry] });
    }
  }

  private netDir(id: string): string {
    return join(this.deps.home, 'net', id);
  }

  private ownAddresses(): ReadonlySet<string> {
    const now = Date.now();
    if (now - this.own.at > 10_000) this.own = { at: now, set: ownAddresses() };
    return this.own.set;
  }

  /** The config's layer for `profile` and `tenant`: network.allow/deny, the profile's and the tenant's, together. */
  configLayer(profile: string, tenant: string | undefined): RuleLayer {
    const s = this.deps.settings();
    const p = s.profiles[profile];
    const t = tenant === undefined ? undefined : s.tenants[tenant];
    return {
      name: 'config',
      allow: [...parseRules(s.allow), ...parseRules(p?.allow), ...parseRules(t?.allow)],
      deny: [...parseRules(s.deny), ...parseRules(p?.deny), ...parseRules(t?.deny)],
    };
  }

  /**
   * Checks a sandbox's own rules (at create, or a change while it runs): well-formed, and each
   * allow rule within what the config grants this tenant and profile (POLICY_DENIED naming the
   * first that is not). Deny rules are always accepted (they only narrow).
   */
  checkSandboxRules(profile: string, tenant: string | undefined, rules: RuleText): void {
    const allow = parseRules(rules.allow);
    parseRules(rules.deny);
    const granted = this.configLayer(profile, tenant).allow ?? [];
    const extra = uncovered(granted, allow);
    if (extra.length > 0) {
      throw new AgentdError('POLICY_DENIED', `network rule '${extra[0]?.text ?? ''}' is wider than the config allows (network.allow, network.profiles.${profile}, network.tenants.<tenant>): a sandbox's rules may only narrow them`, {
        details: { rule: 'network', field: 'egress.allow', asked: extra.map((r) => r.text), granted: granted.map((r) => r.text) },
      });
    }
  }

  /** Every layer deciding a sandbox's connections now; a Decision when its mode allows none. */
  layersFor(id: string): readonly RuleLayer[] | Decision {
    const a = this.attached.get(id);
    const v = this.deps.view(id) ?? (a ? { profile: a.spec.profile, network: a.spec.network, ...(a.spec.egress ? { egress: a.spec.egress } : {}) } : undefined);
    if (!v || v.network !== 'allowlist') return { allowed: false, code: 'mode', reason: `sandbox network mode is '${v?.network ?? 'unknown'}', not 'allowlist'` };
    const layers: RuleLayer[] = [this.configLayer(v.profile, v.tenant)];
    if (v.egress) {
      const own: Rule[] | undefined = v.egress.allow === undefined ? undefined : parseRules(v.egress.allow);
      layers.push({ name: 'sandbox', ...(own === undefined ? {} : { allow: own }), deny: parseRules(v.egress.deny) });
    }
    const overlay = this.overlays.get(id);
    if (!overlay) return layers;
    const extra = parseRules(overlay.allow);
    return layers.map((l) => (l.allow === undefined ? l : { ...l, allow: [...l.allow, ...extra] }));
  }

  /**
   * Makes the sandbox's network folder and sockets before its start; returns the spec the
   * backend gets (`net` set). Idempotent per id (a restart replaces the old ones).
   */
  async attach(spec: SandboxSpec): Promise<SandboxSpec> {
    await this.detach(spec.id);
    const dir = this.netDir(spec.id);
    // Synchronous metadata calls in the daemon's own home (see isolation/tree-ops.ts realDirSync).
    mkdirSync(join(this.deps.home, 'net'), { recursive: true, mode: 0o711 });
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const pending = new Map<string, (sock: Socket, status: number) => void>();
    const egress = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => void this.onEgress(spec.id, sock));
    const ports = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => onPortsConnection(sock, pending));
    try {
      await Promise.all([listen(egress, join(dir, 'egress.sock')), listen(ports, join(dir, 'ports.sock'))]);
      // The sandbox's own host uid (root daemon) must be able to connect.
      chmodSync(join(dir, 'egress.sock'), 0o666);
      chmodSync(join(dir, 'ports.sock'), 0o666);
    } catch (err) {
      egress.close();
      ports.close();
      await rm(dir, { recursive: true, force: true });
      throw new AgentdError('INTERNAL', `cannot make the network sockets of sandbox ${spec.id} in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    this.attached.set(spec.id, { dir, egress, portsSock: ports, spec, pending, exposed: [] });
    const proxyPort = spec.network === 'allowlist' ? this.deps.settings().proxyPort : undefined;
    return { ...spec, net: { hostDir: dir, ...(proxyPort === undefined ? {} : { proxyPort }) } };
  }

  /** Closes a sandbox's sockets and removes its folder (when it stops or is destroyed). */
  async detach(id: string, only?: SandboxSpec): Promise<void> {
    const a = this.attached.get(id);
    if (!a || (only !== undefined && a.spec !== only)) return;
    this.attached.delete(id);
    a.egress.close();
    a.portsSock.close();
    for (const p of a.exposed) p.server.close();
    a.exposed = [];
    for (const [, cb] of a.pending) cb(undefined as unknown as Socket, 255);
    a.pending.clear();
    await rm(a.dir, { recursive: true, force: true });
  }

  /** Registers a port-relay token; `cb` gets the init's connection (or status != 0). */
  expectPortConnection(id: string, token: Buffer, cb: (sock: Socket | undefined, status: number) => void, timeoutMs: number): void {
    const a = this.attached.get(id);
    if (!a) return cb(undefined, 255);
    const key = token.toString('hex');
    const timer = setTimeout(() => {
      if (a.pending.delete(key)) cb(undefined, 110 /* ETIMEDOUT */);
    }, timeoutMs);
    a.pending.set(key, (sock, status) => {
      clearTimeout(timer);
      a.pending.delete(key);
      cb(status === 0 ? sock : undefined, status);
      if (status !== 0) sock?.destroy();
    });
  }

  setOverlay(id: string, o: VerifyOverlay): void {
    this.overlays.set(id, o);
  }

  clearOverlay(id: string): void {
    this.overlays.delete(id);
  }

  /** The daemon's own listening ports and sockets (for `network verify`), set once it listens. */
  endpoints: { ports: number[]; sockets: string[] } = { ports: [], sockets: [] };

  settings(): NetworkSettings {
    return this.deps.settings();
  }

  proxyPort(): number {
    return this.deps.settings().proxyPort;
  }

  /** Called once the sandbox's init is ready: exposes the ports asked at create. */
  async started(handle: SandboxHandle): Promise<void> {
    const a = this.attached.get(handle.id);
    if (!a) return;
    a.handle = handle;
    for (const p of a.spec.ports ?? []) await this.addPort(handle.id, { host: p.host ?? '127.0.0.1', hostPort: p.hostPort ?? 0, port: p.port });
  }

  private relayDeps(a: Attached): PortRelayDeps {
    return {
      channel: () => (a.handle?.isAlive() === true ? a.handle.channel : undefined),
      expect: (token, cb, timeoutMs) => this.expectPortConnection(a.spec.id, token, cb, timeoutMs),
    };
  }

  private running(id: string): Attached {
    const a = this.attached.get(id);
    if (!a?.handle) throw new AgentdError('CONFLICT', `sandbox '${id}' is not running: ports are exposed while it runs`, { details: { sandbox_id: id } });
    return a;
  }

  /** Exposes a sandbox port on the host (publish: '8080', '9000:8080', '127.0.0.1:9000:8080', or parsed). */
  async addPort(id: string, publish: string | { host: string; hostPort: number; port: number }): Promise<ExposedPort> {
    const a = this.running(id);
    const spec = typeof publish === 'string' ? parsePublish(publish) : publish;
    if (a.exposed.some((p) => p.port === spec.port)) throw new AgentdError('ALREADY_EXISTS', `port ${spec.port} of sandbox '${id}' is already exposed`, { details: { port: spec.port } });
    const e = await exposePort(spec, this.relayDeps(a), (err) => this.deps.logger.debug({ sandbox: id, port: spec.port, err: err.message }, 'port relay failed'));
    if (!this.attached.has(id)) {
      e.server.close();
      throw new AgentdError('CONFLICT', `sandbox '${id}' stopped meanwhile`);
    }
    a.exposed.push(e);
    return e;
  }

  removePort(id: string, port: number): void {
    const a = this.running(id);
    const i = a.exposed.findIndex((p) => p.port === port);
    if (i < 0) throw new AgentdError('NOT_FOUND', `port ${port} of sandbox '${id}' is not exposed`, { details: { port } });
    a.exposed[i]?.server.close();
    a.exposed.splice(i, 1);
  }

  listPorts(id: string): Array<{ port: number; host: string; host_port: number }> {
    return (this.attached.get(id)?.exposed ?? []).map((p) => ({ port: p.port, host: p.host, host_port: p.hostPort }));
  }

  /** One connection to a port inside a running sandbox (the daemon's own proxy route). */
  openPort(id: string, port: number): Promise<Socket> {
    return openSandboxPort(this.relayDeps(this.running(id)), port);
  }

  isAttached(id: string): boolean {
    return this.attached.has(id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.attached.keys()].map((id) => this.detach(id)));
  }

  private async onEgress(id: string, sock: Socket): Promise<void> {
    const settings = this.deps.settings();
    const overlay = this.overlays.get(id);
    await handleEgress(sock, {
      layers: () => this.layersFor(id),
      resolver: overlay ? { resolve: async (h) => (overlay.hosts[h] ?? []).map((address) => ({ address, family: 4 as const })) } : this.resolver,
      ...(overlay ? { exempt: (host: string, address: string, port: number) => overlay.exempt(host, address, port) } : {}),
      own: () => this.ownAddresses(),
      connectTimeoutMs: settings.connectTimeoutMs,
      record: (ev) => this.record(id, ev),
    }).catch((err: unknown) => {
      this.deps.logger.warn({ sandbox: id, err: (err as Error).message }, 'egress proxy connection failed');
      sock.destroy();
    });
  }

  private record(id: string, ev: EgressEvent): void {
    const d = ev.decision;
    const code = DECISION_CODES.includes(d.code) ? d.code : 'bad-request';
    this.decisions?.inc({ decision: d.allowed ? 'allowed' : 'denied', code, protocol: ev.protocol });
    this.bytes?.inc({ direction: 'up' }, ev.bytesUp);
    this.bytes?.inc({ direction: 'down' }, ev.bytesDown);
    const tenant = this.deps.view(id)?.tenant ?? null;
    this.deps.audit({
      subject: null,
      tenant,
      action: 'network.egress',
      sandboxId: id,
      status: d.allowed ? 'ok' : 'denied',
      code: d.allowed ? 'OK' : 'POLICY_DENIED',
      durationMs: ev.durationMs,
      details: {
        protocol: ev.protocol, host: ev.host, port: ev.port, decision: d.allowed ? 'allowed' : 'denied', reason: d.reason.slice(0, 300), reason_code: d.code,
        ...(d.rule === undefined ? {} : { rule: d.rule }), ...(d.address === undefined ? {} : { address: d.address }), bytes_up: ev.bytesUp, bytes_down: ev.bytesDown,
      },
    });
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // A deep queue: the init's helper connects without blocking (one loop relays every
    // connection of the sandbox), so a burst the daemon has not accepted yet must fit here.
    server.listen({ path, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A connection from the init's helper: 16 bytes of token, one status byte (0 or an errno), then the relayed stream. */
function onPortsConnection(sock: Socket, pending: Map<string, (sock: Socket, status: number) => void>): void {
  sock.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  const timer = setTimeout(() => sock.destroy(), 10_000);
  const onData = (d: Buffer): void => {
    buf = Buffer.concat([buf, d]);
    if (buf.length < 17) return;
    clearTimeout(timer);
    sock.off('data', onData);
    sock.pause();
    const cb = pending.get(buf.subarray(0, 16).toString('hex'));
    if (!cb) return void sock.destroy();
    const rest = buf.subarray(17);
    if (rest.length > 0) sock.unshift(rest);
    cb(sock, buf[16] ?? 255);
  };
  sock.on('data', onData);
  sock.resume();
}
