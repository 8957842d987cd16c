/**
 * The CLI's data commands speak REST directly (through the SDK's transport, which adds the
 * credentials): `--json` prints exactly the daemon's answer (the snake_case shapes of
 * docs/api.md), and the tables read the same fields.
 */
import type { AgentdClient, QueryValue } from '@agentd/sdk';

export type Rest = Record<string, unknown>;

export async function restGet(client: AgentdClient, path: string, query?: Record<string, QueryValue | readonly string[]>): Promise<Rest> {
  return (await client.transport.json({ method: 'GET', path, ...(query === undefined ? {} : { query }) })) as Rest;
}

export async function restPost(client: AgentdClient, path: string, json: unknown): Promise<Rest> {
  return (await client.transport.json({ method: 'POST', path, json })) as Rest;
}

export function enc(id: string): string {
  return encodeURIComponent(id);
}

/** `answer[key]` as a list of records (a REST list answer: `{sandboxes: [...]}`). */
export function listOf(answer: Rest, key: string): Rest[] {
  const list = answer[key];
  return Array.isArray(list) ? (list as Rest[]) : [];
}

export function str(r: Rest, key: string): string {
  const v = r[key];
  if (typeof v === 'string') return v;
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : '-';
}

export function num(r: Rest, key: string): number | undefined {
  const v = r[key];
  return typeof v === 'number' ? v : undefined;
}
