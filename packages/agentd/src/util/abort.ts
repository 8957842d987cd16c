/**
 * A signal that follows others, without AbortSignal.any: `any` keeps its result alive through
 * weak references on every source (two per exec made it a visible share of an exec's daemon
 * CPU in a profile). Here the follower holds one plain listener per source, removed by
 * `dispose()` once the work it guards is over, so a long-lived source (the daemon's stop
 * signal) does not collect followers.
 */
export interface Follower {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  dispose(): void;
}

export function follow(...sources: AbortSignal[]): Follower {
  const controller = new AbortController();
  const undo: Array<() => void> = [];
  for (const source of sources) {
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    const onAbort = (): void => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    undo.push(() => source.removeEventListener('abort', onAbort));
  }
  return {
    controller,
    signal: controller.signal,
    dispose: () => {
      for (const u of undo.splice(0)) u();
    },
  };
}
