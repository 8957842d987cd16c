/**
 * A sandbox's network: egress rules (network 'allowlist'), the bypass self-test and exposed
 * ports (docs/network.md). Answers are the daemon's JSON (snake_case), typed loosely here.
 */
import type { CallOptions } from './files.js';
import type { HttpTransport } from './transport.js';

export interface NetworkRules {
  /** This sandbox's allow list (null: the daemon's list); it can only narrow the daemon's. */
  allow?: string[] | null;
  deny?: string[];
}

export interface NetworkInfo {
  sandbox_id: string;
  network: 'none' | 'allowlist' | 'host';
  proxy: string | null;
  rules: { allow: string[] | null; deny: string[] };
  config: { allow: string[]; deny: string[] };
}

export interface VerifyProbe {
  name: string;
  /** held: the bypass failed as it must; broken: it got through; error: the probe could not run. */
  result: 'held' | 'broken' | 'error';
  detail: string;
}

export interface VerifyReport {
  sandbox_id: string;
  network: string;
  held: boolean;
  probes: VerifyProbe[];
}

export interface PortInfo {
  port: number;
  host: string;
  host_port: number;
  url: string;
}

export class SandboxNetwork {
  constructor(
    private readonly transport: HttpTransport,
    readonly sandboxId: string,
  ) {}

  private path(rest = ''): string {
    return `/v1/sandboxes/${encodeURIComponent(this.sandboxId)}${rest}`;
  }

  async get(options: CallOptions = {}): Promise<NetworkInfo> {
    return (await this.transport.json({ method: 'GET', path: this.path('/network'), signal: options.signal })) as NetworkInfo;
  }

  /** Replaces the sandbox's own egress rules; new connections follow them at once. */
  async setRules(rules: NetworkRules, options: CallOptions = {}): Promise<NetworkInfo> {
    return (await this.transport.json({ method: 'PUT', path: this.path('/network/rules'), json: rules, signal: options.signal })) as NetworkInfo;
  }

  /** Runs the fixed bypass probes inside the sandbox and reports each as held or broken. */
  async verify(options: CallOptions = {}): Promise<VerifyReport> {
    return (await this.transport.json({ method: 'POST', path: this.path('/network/verify'), json: {}, signal: options.signal })) as VerifyReport;
  }

  async ports(options: CallOptions = {}): Promise<PortInfo[]> {
    const a = (await this.transport.json({ method: 'GET', path: this.path('/ports'), signal: options.signal })) as { ports: PortInfo[] };
    return a.ports;
  }

  /** Exposes a sandbox port on the host: '8080', '9000:8080', '127.0.0.1:9000:8080'. */
  async expose(spec: string, options: CallOptions = {}): Promise<PortInfo> {
    return (await this.transport.json({ method: 'POST', path: this.path('/ports'), json: { publish: spec }, signal: options.signal })) as PortInfo;
  }

  async unexpose(port: number, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: this.path(`/ports/${port}`), signal: options.signal });
  }
}
