/** Sampling helpers: warm-up, interleaved rounds, closed-loop concurrency. */
import { performance } from 'node:perf_hooks';

/** Times one call of `fn` in ms. */
export async function timed(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/**
 * Runs several cases in rounds, one sample of each per round in a rotating order, so
 * that drift in the machine's load hits every case alike. Warm-up rounds are not kept.
 * @param {Record<string, () => Promise<unknown>>} cases
 * @returns {Promise<Record<string, number[]>>} samples in ms
 */
export async function interleaved(cases, { n, warmup }) {
  const names = Object.keys(cases);
  const samples = Object.fromEntries(names.map((k) => [k, []]));
  for (let round = 0; round < warmup + n; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length];
      const ms = await timed(cases[name]);
      if (round >= warmup) samples[name].push(ms);
    }
  }
  return samples;
}

/**
 * `concurrency` workers call `fn` back to back for `durationMs`; returns each call's latency
 * and the completed calls per second over the window (calls still in flight at the end are
 * awaited and counted in the elapsed time).
 */
export async function closedLoop(fn, { concurrency, durationMs }) {
  const latencies = [];
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async () => {
    while (performance.now() < deadline) latencies.push(await timed(fn));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - start) / 1000;
  return { latencies, perS: latencies.length / elapsedS };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
