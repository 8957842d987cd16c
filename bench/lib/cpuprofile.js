/** Reads a V8 .cpuprofile and ranks functions by self time. */
import { readFileSync } from 'node:fs';

export function topSelfTime(file, limit = 25) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const f = n.callFrame;
    const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const idle = self.get('(idle)') ?? 0;
  const rows = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, limit);
  return { totalMs: total / 1000, busyMs: (total - idle) / 1000, rows: rows.map(([k, us]) => ({ fn: k, ms: us / 1000, pctBusy: (100 * us) / Math.max(1, total - idle) })) };
}
