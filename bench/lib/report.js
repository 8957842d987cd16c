/** Writes bench/results/<name>.{json,md,svg}. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CASE_ORDER = [
  'spawn_true', 'bwrap_oneshot_true', 'srt_true', 'host_exec_true', 'ns_exec_true', 'ns_exec_true_direct', 'mcp_exec_true',
  'ns_create', 'linux_native_exec_true', 'linux_native_create', 'ns_acquire_pool', 'ns_exec_throughput_c16', 'spawn_throughput_c16', 'ns_idle_500', 'ns_stream_256m', 'pipe_256m',
];

const fmt = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : '');

function headline(c) {
  if (c.per_s !== undefined) return `${fmt(c.per_s, 0)} /s`;
  if (c.mib_per_s !== undefined) return `${fmt(c.mib_per_s, 0)} MiB/s`;
  if (c.mib !== undefined) return `${fmt(c.mib, 1)} MiB (${fmt(c.pss_per_sandbox_mib, 2)}/sandbox), daemon RSS ${fmt(c.daemon_rss_mib, 0)} MiB, ${fmt(c.create_all_s, 1)} s to create`;
  return '';
}

function markdown(result) {
  const out = [];
  out.push(`# agentd bench: ${result.date}`, '');
  out.push(`Mode: ${result.mode}. Machine: ${result.machine.cores} cores (${result.machine.cpu_model}), ${result.machine.memory_mib} MiB, ${result.machine.kernel}, ${result.machine.distro ?? ''}, Node ${result.machine.node}, ${result.machine.bwrap ?? 'bwrap ?'}, uid ${result.machine.uid}.`);
  out.push(`Load average (1/5/15 min) at start ${result.machine.loadavg_start.join(' / ')}, at end ${result.machine.loadavg_end.join(' / ')}; the bench took ${fmt(result.duration_s, 0)} s.`, '');
  const byGroup = Object.entries(result.machine.loadavg_by_group ?? {});
  if (byGroup.length > 0) {
    out.push('| group | load before (1/5/15) | load after |', '|---|---|---|');
    for (const [g, l] of byGroup) out.push(`| ${g} | ${l.before?.join(' / ') ?? ''} | ${l.after?.join(' / ') ?? ''} |`);
    out.push('');
  }
  if (result.verdict_refused !== undefined) out.push(`**No verdict**: ${result.verdict_refused}. The numbers below are written all the same.`, '');
  out.push('Latencies in ms. Paired cases were sampled in interleaved rounds, so load drift hits both alike.', '');
  out.push('| case | n | p50 | p90 | p99 | min | max | value |', '|---|---:|---:|---:|---:|---:|---:|---|');
  for (const name of CASE_ORDER) {
    const c = result.cases[name];
    if (!c) continue;
    out.push(`| \`${name}\` | ${c.n} | ${fmt(c.p50_ms)} | ${fmt(c.p90_ms)} | ${fmt(c.p99_ms)} | ${fmt(c.min_ms)} | ${fmt(c.max_ms)} | ${headline(c)} |`);
  }
  out.push('', '## Targets', '', '| target | measured | bound | result |', '|---|---:|---:|---|');
  for (const t of result.targets) {
    const v = t.value === null ? 'not run' : `${fmt(t.value, t.unit === 'x' ? 2 : 2)}${t.unit === 'x' ? ' x' : ` ${t.unit}`}`;
    out.push(`| ${t.target} | ${v} | ${t.op} ${t.bound} | ${{ pass: 'pass', miss: '**miss**', no_verdict: 'no verdict' }[t.status] ?? 'not run'} |`);
  }
  if (Object.keys(result.diagnostics).length > 0) {
    out.push('', '## Diagnostics (not targets)', '');
    for (const [k, v] of Object.entries(result.diagnostics)) out.push(`- \`${k}\`: ${typeof v === 'object' ? `\`${JSON.stringify(v)}\`` : v}`);
  }
  if (result.notes.length > 0) out.push('', '## Notes', '', ...result.notes.map((n) => `- ${n}`));
  out.push('', '![p50 and p99 latencies](latest.svg)', '');
  return out.join('\n');
}

/** Horizontal bars of p50 (solid) and p99 (tick) per latency case, log scale. */
function svg(result) {
  const rows = CASE_ORDER.map((name) => [name, result.cases[name]]).filter(([, c]) => c && typeof c.p50_ms === 'number');
  const W = 760, left = 190, right = 20, rowH = 26, top = 40;
  const H = top + rows.length * rowH + 40;
  const maxV = Math.max(...rows.map(([, c]) => c.p99_ms));
  const minV = Math.min(0.1, ...rows.map(([, c]) => c.p50_ms));
  const lo = Math.log10(minV), hi = Math.log10(maxV) + 0.05;
  const x = (v) => left + ((Math.log10(Math.max(v, minV)) - lo) / (hi - lo)) * (W - left - right);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  parts.push(`<text x="${left}" y="20" font-size="14">Latency per case (ms, log scale): bar = p50, tick = p99</text>`);
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    const gx = x(10 ** d);
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${H - 30}" stroke="#ddd"/><text x="${gx}" y="${H - 14}" text-anchor="middle">${10 ** d}</text>`);
  }
  rows.forEach(([name, c], i) => {
    const y = top + i * rowH;
    const color = name.startsWith('ns_') || name.startsWith('host_') ? '#2b6cb0' : '#999';
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${name}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(c.p50_ms) - left)}" height="${rowH - 10}" fill="${color}"/>`);
    parts.push(`<line x1="${x(c.p99_ms)}" y1="${y + 2}" x2="${x(c.p99_ms)}" y2="${y + rowH - 4}" stroke="#c53030" stroke-width="2"/>`);
    parts.push(`<text x="${Math.min(W - 60, x(c.p99_ms) + 4)}" y="${y + 15}" fill="#333">${fmt(c.p50_ms)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeReport(dir, base, result) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.svg`), `${svg(result)}\n`);
  writeFileSync(join(dir, `${base}.md`), markdown(result).replace('(latest.svg)', `(${base}.svg)`));
  return { json: join(dir, `${base}.json`), md: join(dir, `${base}.md`), svg: join(dir, `${base}.svg`) };
}
