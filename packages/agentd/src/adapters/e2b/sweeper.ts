import type { HttpServices } from '../http/services.js';

/** How often sandboxes created with autoPause are checked for an ended timeout. */
const INTERVAL_MS = 1000;
/** How often rows of sandboxes that are gone (killed by their TTL, destroyed through agentd's API) are removed. */
const PRUNE_EVERY_TICKS = 60;

/**
 * The E2B plane's own timeout action for autoPause sandboxes (kill on timeout is agentd's TTL):
 * a running sandbox whose timeout ended is paused (frozen); a paused one waits for connect.
 * Rows of sandboxes that are gone are removed (every minute, and when found due).
 */
export function startAutoPause(svc: HttpServices): { stop(): void } {
  let busy = false;
  let ticks = 0;
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      if (++ticks % PRUNE_EVERY_TICKS === 0) {
        for (const row of svc.store.e2b.listAll()) {
          const rec = svc.store.sandboxes.getForTenant(row.id, row.tenant);
          if (rec === undefined || rec.state === 'destroyed') svc.store.e2b.delete(row.id);
        }
      }
      for (const row of svc.store.e2b.listDueForPause(svc.store.now())) {
        const rec = svc.store.sandboxes.getForTenant(row.id, row.tenant);
        if (rec === undefined) {
          svc.store.e2b.delete(row.id);
          continue;
        }
        if (rec.state !== 'running') continue;
        await svc.sandboxes.suspend(row.tenant, row.id).catch((err: unknown) => svc.logger.warn({ sandbox: row.id, err: (err as Error).message }, 'e2b: could not pause a sandbox at its timeout'));
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
