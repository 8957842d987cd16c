import { release } from 'node:os';
import { createBuiltinRegistry } from '../isolation/builtins.js';
import type { BackendProbe } from '../isolation/types.js';
import { nativePaths } from '../native-paths.js';
import { silentLogger } from '../util/logger.js';

export interface DoctorReport {
  host: { kernel: string; node: string; uid: number; init: string };
  backends: Array<BackendProbe & { aliases: string[]; implemented: boolean }>;
  best: string | null;
}

export async function doctorReport(): Promise<DoctorReport> {
  const registry = createBuiltinRegistry();
  const { init } = nativePaths();
  const probes = await registry.probeAll({ initPath: init, logger: silentLogger });
  const infos = new Map(registry.list().map((b) => [b.name, b]));
  let best: string | null = null;
  try {
    best = registry.detectBest(probes);
  } catch {
    best = null;
  }
  return {
    host: { kernel: release(), node: process.version, uid: process.getuid?.() ?? -1, init },
    backends: probes.map((p) => ({ ...p, aliases: infos.get(p.backend)?.aliases ?? [], implemented: infos.get(p.backend)?.implemented ?? false })),
    best,
  };
}

export function formatDoctor(r: DoctorReport): string {
  const lines = [`host: Linux ${r.host.kernel}, Node ${r.host.node}, uid ${r.host.uid}`, `agentd-init: ${r.host.init}`, ''];
  for (const b of r.backends) {
    const aliases = b.aliases.length ? ` (${b.aliases.join(', ')})` : '';
    const state = b.available ? `works here, isolation: ${b.isolation}` : `NOT available: ${b.reason ?? 'unknown reason'}`;
    lines.push(`${b.available ? '✓' : '✗'} ${b.backend}${aliases}: ${state}`);
    if (!b.implemented) continue;
    for (const [name, f] of Object.entries(b.features)) {
      lines.push(`    ${f.ok ? 'yes' : 'no '}  ${name.padEnd(13)} ${f.detail ?? ''}`.trimEnd());
    }
  }
  lines.push('', r.best === null ? 'no backend can run sandboxes here' : `best backend here: ${r.best}`);
  return `${lines.join('\n')}\n`;
}

