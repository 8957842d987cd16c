import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Ids of the daemon's sandboxes (any state with files: running, stopped, dead...) that
 * started from image `digest`, read from `<home>/state.db` (read-only; the daemon may hold it
 * open). A home without a state database has none.
 */
export function sandboxesUsingImage(home: string, digest: string): string[] {
  const file = join(home, 'state.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, spec FROM sandboxes').all() as Array<{ id: string; spec: string }>;
    return rows.filter((r) => {
      try {
        return (JSON.parse(r.spec) as { image?: { digest?: string } } | null)?.image?.digest === digest;
      } catch {
        return false;
      }
    }).map((r) => r.id);
  } finally {
    db.close();
  }
}
