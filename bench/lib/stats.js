/** Percentiles and summaries of latency samples (milliseconds). */

/** Nearest-rank percentile of sorted samples (p in 0..100). */
export function percentile(sorted, p) {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const round = (x, digits = 3) => Number(x.toFixed(digits));

/** n, p50, p90, p99, min, max (and mean) of latency samples, in ms; the JSON keys end in _ms. */
export function summarize(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return {
    n: s.length,
    p50_ms: round(percentile(s, 50)),
    p90_ms: round(percentile(s, 90)),
    p99_ms: round(percentile(s, 99)),
    min_ms: round(s[0]),
    max_ms: round(s[s.length - 1]),
    mean_ms: round(mean),
  };
}

/** Same shape for a rate measured n times (per_s, mib_per_s...): the headline value is the median. */
export function summarizeRate(values, key) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    [key]: round(percentile(s, 50), 1),
    p50: round(percentile(s, 50), 1),
    p90: round(percentile(s, 90), 1),
    p99: round(percentile(s, 99), 1),
    min: round(s[0], 1),
    max: round(s[s.length - 1], 1),
  };
}

export { round };
