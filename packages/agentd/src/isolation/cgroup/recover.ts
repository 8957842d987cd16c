import type { CgroupDriver } from './driver.js';

/**
 * Thaws, kills and removes the leftover cgroups of this home's sandboxes (`ours`) under the
 * driver's parent group: what a crashed daemon left (its sandboxes' processes may still run).
 * Groups of other sandboxes under the same parent (another daemon on another home, a
 * concurrent `agentd run`) are left alone. Shared by every backend that puts its sandboxes
 * in cgroups of its own (their recover()). Returns the ids removed; one group that cannot be
 * cleaned is reported to `warn` and the others are still tried.
 */
export async function removeLeftoverCgroups(driver: CgroupDriver, ours: ReadonlySet<string>, warn: (err: Error) => void): Promise<string[]> {
  const removed: string[] = [];
  let ids: string[];
  try {
    ids = await driver.list();
  } catch (err) {
    warn(err as Error);
    return removed;
  }
  for (const id of ids) {
    if (!ours.has(id)) continue;
    try {
      const group = await driver.attach(id);
      if (group === undefined) continue;
      // A sandbox suspended when the old daemon died is still frozen: its processes act on
      // no signal (SIGKILL included) until thawed. killAll copes too; thawing first says so.
      if (await group.isFrozen()) await group.thaw({ timeoutMs: 2000 }).catch(() => undefined);
      await group.killAll();
      await group.remove();
      removed.push(id);
    } catch (err) {
      warn(err as Error);
    }
  }
  return removed;
}
