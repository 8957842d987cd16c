/**
 * Server-streaming envd calls (Start, Connect, WatchDir) send a keepalive event every
 * `Keepalive-Ping-Interval` seconds (the SDK asks 50) so idle streams survive proxies;
 * `withKeepalive` merges those ticks into a stream of events.
 */
import type { HandlerContext } from '@connectrpc/connect';

export const KEEPALIVE_HEADER = 'keepalive-ping-interval';
const MIN_S = 1;
const MAX_S = 3600;

/** The keepalive period asked by the client (ms), or undefined for none. */
export function keepaliveMsOf(ctx: HandlerContext): number | undefined {
  const raw = ctx.requestHeader.get(KEEPALIVE_HEADER);
  if (raw === null || !/^\d{1,5}$/.test(raw.trim())) return undefined;
  const s = Number(raw.trim());
  return s < MIN_S ? undefined : Math.min(s, MAX_S) * 1000;
}

const TICK = Symbol('tick');

/** `source`'s items, with `tick()` in between whenever `periodMs` passes without one. */
export async function* withKeepalive<T>(source: AsyncIterable<T>, periodMs: number | undefined, tick: () => T): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  if (periodMs === undefined) {
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield r.value;
    }
  }
  let next = it.next();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const ticked = new Promise<typeof TICK>((resolve) => {
        timer = setTimeout(() => resolve(TICK), periodMs);
      });
      const r = await Promise.race([next, ticked]);
      clearTimeout(timer);
      if (r === TICK) {
        yield tick();
        continue;
      }
      if (r.done === true) return;
      next = it.next();
      yield r.value;
    }
  } finally {
    // Not awaited: a pending next() (a source waiting for its next item) would hold it; the
    // caller's abort signal ends the source.
    it.return?.()?.catch(() => undefined);
  }
}
