/**
 * A real agentd daemon for end-to-end tests: port 0 on loopback plus a Unix socket in a
 * temp home, auth chain [peer-creds, api-key], the best backend this host offers.
 * An admin API key is minted over the socket (peer-creds maps root and the daemon's uid to admin).
 * The namespace backend gets a cgroup parent of its own: a daemon's start-up recovery empties
 * every sandbox group under its parent, so daemons of parallel tests must not share one.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentdClient } from '../../src/index.js';
import { unixSocketFetch } from '../../src/node.js';
import { parseConfig } from '../../../agentd/src/config/index.js';
import { CgroupDriver } from '../../../agentd/src/isolation/cgroup/index.js';
import { nativePaths } from '../../../agentd/src/native-paths.js';
import { startDaemon, type Daemon } from '../../../agentd/src/runtime/daemon.js';

export interface TestDaemon {
  daemon: Daemon;
  url: string;
  socketPath: string;
  home: string;
  backend: string;
  /** An API key with the admin role, tenant "default". */
  adminKey: string;
  /** A client over the Unix socket (peer-creds, admin). */
  socketClient: AgentdClient;
  close(): Promise<void>;
}

/** Why end-to-end tests cannot run here, or undefined when they can. */
export function e2eSkipReason(): string | undefined {
  const { init } = nativePaths();
  if (!existsSync(init)) return `agentd-init is not built at ${init} (run: make -C packages/agentd/native)`;
  return undefined;
}

export interface TestDaemonOptions {
  /** The profile's own auth chain (workstation: local token, then peer-creds) instead of [peer-creds, api-key]. */
  profileAuth?: boolean;
  /** adapters.http.body_limit_bytes (the largest request body). */
  bodyLimitBytes?: number;
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const home = mkdtempSync(join(tmpdir(), 'agentd-e2e-'));
  // Sandboxes run as an unprivileged uid that must be able to reach its directories under home.
  chmodSync(home, 0o711);
  const socketPath = join(home, 'agentd.sock');
  const cgroupParent = `agentd-test-${randomBytes(6).toString('hex')}`;
  const removeCgroupParent = (): Promise<void> => new CgroupDriver({ parent: cgroupParent }).removeParent().catch(() => undefined);
  let daemon: Daemon | undefined;
  try {
    const config = parseConfig(
      {
        home,
        profile: 'workstation',
        isolation: { backend: 'auto', backends: { namespace: { cgroup_parent: cgroupParent } } },
        adapters: {
          http: { enabled: true, listen: '127.0.0.1:0', ...(options.bodyLimitBytes === undefined ? {} : { body_limit_bytes: options.bodyLimitBytes }) },
          unix: { enabled: true, path: socketPath },
        },
        ...(options.profileAuth === true ? {} : { auth: { providers: [{ type: 'peer-creds' }, { type: 'api-key' }] } }),
      },
      {},
    );
    daemon = await startDaemon(config, { sweepIntervalMs: 200 });
    const url = daemon.address;
    if (url === undefined) throw new Error('the daemon has no HTTP address');
    const socketClient = new AgentdClient({ baseUrl: 'http://localhost', fetch: unixSocketFetch(socketPath) });
    const key = await socketClient.createKey({ subject: 'e2e-admin', tenant: 'default', roles: ['admin'] });
    if (key.secret === undefined) throw new Error('createKey returned no secret');
    const started = daemon;
    return {
      daemon: started,
      url,
      socketPath,
      home,
      backend: started.backend,
      adminKey: key.secret,
      socketClient,
      close: async () => {
        try {
          for (const s of await socketClient.listSandboxes().catch(() => [])) await socketClient.destroySandbox(s.id).catch(() => undefined);
          await started.close();
        } finally {
          await removeCgroupParent();
          rmSync(home, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await daemon?.close().catch(() => undefined);
    await removeCgroupParent();
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
}
