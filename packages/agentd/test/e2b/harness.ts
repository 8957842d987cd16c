import { startTestDaemon, type ConfigOverrides, type TestDaemon } from '../daemon/harness.js';

/** A real daemon with the E2B API on, and what the stock E2B SDK needs to reach it. */
export interface E2bTestDaemon {
  d: TestDaemon;
  /** E2B_API_URL: the control plane under /e2b. */
  apiUrl: string;
  /** E2B_SANDBOX_URL: the root of the same listener. */
  sandboxUrl: string;
  /** An E2B key (e2b_...) of subject `alice`, tenant `t1`. */
  apiKey: string;
  /** The SDK's connection options (`Sandbox.create({ ...opts })`). */
  opts: { apiKey: string; apiUrl: string; sandboxUrl: string };
  /** Makes another E2B key. */
  newKey(subject: string, tenant: string, roles?: string[]): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

export async function startE2bDaemon(overrides: ConfigOverrides = {}): Promise<E2bTestDaemon> {
  // agentd API keys too, so a test can look at the same sandbox through agentd's own API as the tenant.
  const d = await startTestDaemon({ auth: { providers: [{ type: 'local-token' }, { type: 'peer-creds' }, { type: 'api-key' }] }, ...overrides });
  const newKey = async (subject: string, tenant: string, roles: string[] = ['user']): Promise<{ id: string; key: string }> => {
    const r = await d.call('POST', '/v1/keys', { body: { subject, tenant, roles, kind: 'e2b' } });
    if (r.status !== 201) throw new Error(`key create: ${r.status} ${r.text}`);
    return { id: r.body.id as string, key: r.body.key as string };
  };
  const { key } = await newKey('alice', 't1');
  const apiUrl = `${d.url}/e2b`;
  return { d, apiUrl, sandboxUrl: d.url, apiKey: key, opts: { apiKey: key, apiUrl, sandboxUrl: d.url }, newKey, close: () => d.close() };
}
