import type Database from 'better-sqlite3';
import { Table, column, jsonColumn, type Columns } from './table.js';

/** What the E2B plane keeps about a sandbox it created (adapters/e2b), beside agentd's own row. */
export interface E2bSandboxRecord {
  /** agentd's sandbox id, which is also the E2B sandboxID. */
  id: string;
  tenant: string;
  /** The E2B key (api_keys row id) that created it: the principal of its in-sandbox calls. */
  keyId: string;
  subject: string;
  roles: string[];
  /** The template id as the caller sent it ('base' = agentd's default). */
  templateId: string;
  metadata: Record<string, string>;
  /** The per-sandbox envd access token (X-Access-Token) and traffic token (e2b-traffic-access-token), hex. */
  accessToken: string;
  trafficToken: string;
  /** The current timeout, from the last create/connect/setTimeout. */
  timeoutMs: number;
  /** On timeout: pause (true) or kill (false). */
  autoPause: boolean;
  createdAtMs: number;
  /** When the timeout ends (epoch ms). */
  endAtMs: number;
}

const COLUMNS: Columns<E2bSandboxRecord> = {
  id: column('id'),
  tenant: column('tenant'),
  keyId: column('key_id'),
  subject: column('subject'),
  roles: jsonColumn('roles', []),
  templateId: column('template_id'),
  metadata: jsonColumn('metadata', {}),
  accessToken: column('access_token'),
  trafficToken: column('traffic_token'),
  timeoutMs: column('timeout_ms'),
  autoPause: { name: 'auto_pause', read: (raw) => raw === 1, write: (v: boolean) => (v ? 1 : 0) },
  createdAtMs: column('created_ms'),
  endAtMs: column('end_ms'),
};

/** The `e2b_sandboxes` table (migration 5). */
export class E2bSandboxRepo {
  readonly #table: Table<E2bSandboxRecord>;

  constructor(db: Database.Database) {
    this.#table = new Table(db, { name: 'e2b_sandboxes', noun: 'e2b sandbox', columns: COLUMNS });
  }

  insert(rec: E2bSandboxRecord): E2bSandboxRecord {
    return this.#table.insert(rec);
  }

  get(id: string): E2bSandboxRecord | undefined {
    return this.#table.get(id);
  }

  getForTenant(id: string, tenant: string): E2bSandboxRecord | undefined {
    return this.#table.getForTenant(id, tenant);
  }

  list(tenant: string): E2bSandboxRecord[] {
    return this.#table.list({ tenant });
  }

  /** Every row, every tenant (the plane's housekeeping). */
  listAll(): E2bSandboxRecord[] {
    return this.#table.list();
  }

  setTimeout(id: string, timeoutMs: number, endAtMs: number): void {
    this.#table.statement('UPDATE e2b_sandboxes SET timeout_ms = ?, end_ms = ? WHERE id = ?').run(timeoutMs, endAtMs, id);
  }

  /** Auto-pause sandboxes whose timeout ended before `now`. */
  listDueForPause(now: number): E2bSandboxRecord[] {
    return this.#table.select('SELECT * FROM e2b_sandboxes WHERE auto_pause = 1 AND end_ms <= ? ORDER BY end_ms', now);
  }

  delete(id: string): boolean {
    return this.#table.delete(id);
  }
}
