/**
 * The conformance suite's common part: which backends to run against (every backend
 * registered in createBuiltinRegistry(), found at run time and probed here), a daemon per
 * backend configured from its probe, and small REST helpers.
 *
 * The probe is a promise: for each feature a backend reports ok, the suite proves it works;
 * for each it reports not ok, the suite proves the request that needs it is refused with a
 * clear code, never silently ignored. A backend that cannot run here is skipped with its
 * probe's reason printed.
 *
 * Choosing backends: AGENTD_CONFORMANCE_BACKEND=name[,name...] (names, aliases or variant
 * labels such as oci-crun); default every registered backend. A name that is not an
 * implemented backend is reported as a skipped backend with the registry's reason. A backend with several runtimes behind one name (oci: runc, crun)
 * lists them in VARIANTS: each variant is a subject of its own with its options.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import type { BackendProbe, FeatureStatus } from '../../src/isolation/types.js';
import { requireInitPath } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';
import { startTestDaemon, type Answer, type TestDaemon } from '../daemon/harness.js';

const run = promisify(execFile);

/** One backend (or one runtime of it) the suite runs against. */
export interface Subject {
  /** What the tests are titled with: the backend name, or `backend-variant`. */
  label: string;
  /** Canonical backend name. */
  backend: string;
  /** Options of `isolation.backends.<backend>` for this subject. */
  options: Record<string, unknown>;
  probe: BackendProbe;
}

/**
 * Backends with several runtimes behind one name. Data only: a backend author adds a row
 * here when one name covers runtimes that must each pass (e.g. oci with runc and crun). A
 * variant whose label is itself a registered backend is left out (that backend covers it).
 */
export const VARIANTS: Readonly<Record<string, ReadonlyArray<{ label: string; options: Record<string, unknown> }>>> = {
  oci: [
    { label: 'oci-runc', options: { runtime: 'runc' } },
    { label: 'oci-crun', options: { runtime: 'crun' } },
  ],
};

interface Wanted {
  /** Canonical names asked for (every variant of each). */
  backends: Set<string>;
  /** Variant labels asked for (that variant only). */
  labels: Set<string>;
  /** Names that do not resolve to an implemented backend, with the registry's reason: reported as skipped subjects. */
  missing: Array<{ name: string; reason: string }>;
}

/** What AGENTD_CONFORMANCE_BACKEND asks for (names, aliases or variant labels), or undefined for every backend. */
function wanted(registry: ReturnType<typeof createBuiltinRegistry>): Wanted | undefined {
  const raw = process.env.AGENTD_CONFORMANCE_BACKEND?.trim();
  if (raw === undefined || raw === '') return undefined;
  const out: Wanted = { backends: new Set(), labels: new Set(), missing: [] };
  const labels = new Set(Object.values(VARIANTS).flatMap((vs) => vs.map((v) => v.label)));
  for (const name of raw.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '')) {
    // A variant by its label (oci-crun) or by the alias that names its runtime (crun -> oci-crun).
    const variant = [...labels].find((l) => l === name || l.endsWith(`-${name}`));
    if (variant !== undefined) out.labels.add(variant);
    else {
      try {
        out.backends.add(registry.resolve(name));
      } catch (err) {
        out.missing.push({ name, reason: (err as Error).message });
      }
    }
  }
  return out;
}

async function discover(): Promise<Subject[]> {
  const registry = createBuiltinRegistry();
  const only = wanted(registry);
  const names = registry.list().filter((b) => b.implemented).map((b) => b.name);
  const initPath = requireInitPath();
  const subjects: Subject[] = [];
  for (const name of names) {
    const variants = (VARIANTS[name] ?? [{ label: name, options: {} }])
      // A variant that is also registered as a backend of its own is covered as that backend.
      .filter((v) => v.label === name || !names.includes(v.label))
      .filter((v) => only === undefined || only.backends.has(name) || only.labels.has(v.label));
    for (const v of variants) {
      let probe: BackendProbe;
      try {
        probe = await registry.create(name, { initPath, logger: silentLogger, options: { ...v.options } }).probe();
      } catch (err) {
        probe = unavailable(name, `probe failed: ${(err as Error).message}`);
      }
      subjects.push({ label: v.label, backend: name, options: v.options, probe });
    }
  }
  for (const m of only?.missing ?? []) subjects.push({ label: m.name, backend: m.name, options: {}, probe: unavailable(m.name, m.reason) });
  return subjects;
}

function unavailable(backend: string, reason: string): BackendProbe {
  return { backend, available: false, reason, isolation: 'none', features: {} as BackendProbe['features'] };
}

/** Every subject, probed once per test file (top-level await: the list decides which tests exist). */
export const SUBJECTS: readonly Subject[] = await discover();

/** A feature's status; a feature the probe does not list is undefined (the suite then accepts working or a clear refusal). */
export function feature(s: Subject, name: string): FeatureStatus | undefined {
  return (s.probe.features as Record<string, FeatureStatus | undefined>)[name];
}

export function featureOk(s: Subject, name: string): boolean {
  return feature(s, name)?.ok === true;
}

/** Why a feature is off, for test titles. */
export function why(s: Subject, name: string): string {
  const f = feature(s, name);
  return f === undefined ? `the probe does not report '${name}'` : `probe: ${name} not ok (${f.detail ?? 'no detail'})`;
}

/**
 * Config of a subject's daemon, from its probe: a limit the backend cannot enforce is off by
 * default (the suite asks for it explicitly where it proves the refusal), the network is
 * 'none' where the backend can take it away, 'host' otherwise. No disk volume (not part of the suite).
 */
// The daemon's cgroups go under the default parent: start-up recovery only removes groups of
// its own home's sandboxes, so other daemons' sandboxes under the same parent are safe.
export function daemonConfig(s: Subject): Record<string, unknown> {
  const on = (f: string, v: number): number => (featureOk(s, f) ? v : 0);
  return {
    isolation: { backend: s.backend, backends: { [s.backend]: { ...s.options } } },
    sandbox: {
      network: featureOk(s, 'network') ? 'none' : 'host',
      limits: { memory_bytes: on('memoryLimit', 1024 * 1024 * 1024), pids: on('pidsLimit', 512), cpus: on('cpuLimit', 1), disk_bytes: 0 },
    },
  };
}

export async function startSubjectDaemon(s: Subject, extra: Record<string, unknown> = {}): Promise<TestDaemon> {
  const base = daemonConfig(s);
  const merged = { ...base, ...extra, sandbox: { ...(base.sandbox as object), ...((extra.sandbox as object | undefined) ?? {}) } };
  return startTestDaemon(merged);
}

/**
 * One describe block per subject. An unavailable backend gets a skipped test whose title is
 * the probe's reason, and a warning on stderr: never a silent skip.
 */
export function forEachSubject(area: string, body: (s: Subject) => void): void {
  if (SUBJECTS.length === 0) {
    describe(`conformance ${area}`, () => {
      it('has at least one backend to run against', () => {
        expect(SUBJECTS.map((s) => s.label), `AGENTD_CONFORMANCE_BACKEND=${process.env.AGENTD_CONFORMANCE_BACKEND ?? ''} matched no registered backend`).not.toEqual([]);
      });
    });
    return;
  }
  for (const s of SUBJECTS) {
    if (!s.probe.available) {
      const reason = s.probe.reason ?? 'unavailable (no reason given)';
      console.warn(`conformance ${area}: backend '${s.label}' skipped: ${reason}`);
      describe(`conformance ${area} [${s.label}]`, () => {
        it.skip(`skipped: backend '${s.label}' is not available here: ${reason}`, () => undefined);
      });
      continue;
    }
    describe(`conformance ${area} [${s.label}]`, () => body(s));
  }
}

/** POST /v1/sandboxes; expects 201 and answers the new id. */
export async function createSandbox(d: TestDaemon, body: Record<string, unknown> = {}): Promise<string> {
  const c = await d.call('POST', '/v1/sandboxes', { body });
  expect(c.status, c.text).toBe(201);
  return c.body.id as string;
}

export interface ExecResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  encoding: 'utf8' | 'base64';
  timed_out: boolean;
  resource_limited: boolean;
  output_truncated: boolean;
  [k: string]: unknown;
}

/** A non-streamed exec that must be answered 200 (the command ran). */
export async function exec(d: TestDaemon, id: string, params: Record<string, unknown>): Promise<ExecResult> {
  const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: params });
  expect(r.status, r.text).toBe(200);
  return r.body as ExecResult;
}

/** A shell command that must exit 0; answers its stdout. */
export async function sh(d: TestDaemon, id: string, command: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await exec(d, id, { command, ...extra });
  expect(r.exit_code, `${command}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Expects an error answer with one of the codes (the refusal a feature that is not ok must give). */
export function expectRefused(a: Answer, codes: readonly string[]): void {
  expect(a.status, a.text).toBeGreaterThanOrEqual(400);
  expect(codes, `answer ${a.status}: ${a.text}`).toContain(a.body?.error?.code);
  expect(typeof a.body?.error?.message).toBe('string');
}

/** Codes that say a request cannot be served by this backend (never a 500). */
export const REFUSAL_CODES = ['LIMIT_UNSUPPORTED', 'ISOLATION_REQUIRED', 'INVALID_ARGUMENT', 'POLICY_DENIED', 'BACKEND_UNAVAILABLE'] as const;

/** All 256 byte values, `times` times over. */
export function allBytes(times = 1): Buffer {
  const one = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) one[i] = i;
  return Buffer.concat(Array.from({ length: times }, () => one));
}

export function unique(prefix: string): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** A number unlikely to be in any other command line: a process marker (`sleep N`). */
export function markerNumber(): number {
  return 900_000_000 + Math.floor(Math.random() * 99_000_000);
}

/**
 * A sh snippet counting the processes inside the sandbox whose command line is `sleep N`
 * (a shell that runs it does not count; the pattern is written so the counting command
 * itself never matches it).
 */
export function countInside(n: number): string {
  const s = String(n);
  const pattern = `^sleep ${s.slice(0, -1)}[${s.slice(-1)}] *$`;
  return `for p in /proc/[0-9]*; do tr '\\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '${pattern}' || true`;
}

/** Host pids whose command line is `line` (the host's view; a backend whose processes are not host processes shows none). */
export async function hostPidsRunning(line: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmd.replaceAll('\0', ' ').trim() === line && Number(e) !== process.pid) out.push(Number(e));
  }
  return out;
}

/** Host processes that name the sandbox: its id or its folder in their command line, or their cwd inside its folder. */
export async function hostProcessesOf(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const cwd = await readlink(`/proc/${e}/cwd`).catch(() => '');
    if (cmd.includes(id) || cwd.includes(`/${id}`)) out.push(Number(e));
  }
  return out;
}

/** Cgroup folders (any controller, up to four levels down) whose name contains the sandbox id. */
export async function cgroupsOf(id: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.includes(id)) found.push(p);
      else await walk(p, depth + 1);
    }
  };
  await walk('/sys/fs/cgroup', 0);
  return found;
}

/**
 * The cgroup folders the given host processes are in (every hierarchy), leaving out the root
 * and the groups this test process is in itself: the sandbox's own groups, however the
 * backend named them.
 */
export async function cgroupsOfPids(pids: readonly number[]): Promise<string[]> {
  const parse = (text: string): Array<{ controllers: string; path: string }> =>
    text.split('\n').filter((l) => l !== '').map((l) => {
      const [, controllers = '', ...rest] = l.split(':');
      return { controllers, path: rest.join(':') };
    });
  const own = new Set(parse(await readFile('/proc/self/cgroup', 'utf8')).map((e) => `${e.controllers}:${e.path}`));
  const unified = (await readdir('/sys/fs/cgroup/unified').then(() => true, () => false)) ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  const out = new Set<string>();
  for (const pid of pids) {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    for (const e of parse(text)) {
      if (e.path === '/' || own.has(`${e.controllers}:${e.path}`)) continue;
      if (e.controllers === '') out.add(join(unified, e.path));
      else for (const c of e.controllers.replace(/^name=/, '').split(',')) out.add(join('/sys/fs/cgroup', c, e.path));
    }
  }
  const present: string[] = [];
  for (const dir of out) if (await readdir(dir).then(() => true, () => false)) present.push(dir);
  return present.sort();
}

/** Lines of the host's mount table (this process's mount namespace) naming the sandbox id. */
export async function mountsOf(id: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((l) => l.includes(id));
}

const FIXTURE_SOURCES = fileURLToPath(new URL('.', import.meta.url));

export type FixtureName = 'attack' | 'alloc' | 'fork-bomb' | 'busy';

export interface StaticFixtures {
  path(name: FixtureName): string;
  cleanup(): Promise<void>;
}

/**
 * Compiles fixture programs as static binaries (they run in whatever root file system a
 * backend gives: the host's folders or an image): attack.c from this folder, the others
 * from test/fixtures.
 */
export async function buildStaticFixtures(names: FixtureName[]): Promise<StaticFixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'agentd-conformance-bin-'));
  await Promise.all(
    names.map((name) => {
      const src = name === 'attack' ? join(FIXTURE_SOURCES, 'fixtures', 'attack.c') : join(FIXTURE_SOURCES, '..', 'fixtures', `${name}.c`);
      return run('gcc', ['-static', '-O1', '-Wall', '-Wextra', '-Werror', '-o', join(dir, name), src]);
    }),
  );
  return { path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Puts a fixture into the sandbox's workspace as `bin/<name>` (mode 0755) through the files API; run it as `./bin/<name>`. */
export async function upload(d: TestDaemon, id: string, fx: StaticFixtures, name: FixtureName): Promise<void> {
  const bytes = await readFile(fx.path(name));
  const r = await d.call('PUT', `/v1/sandboxes/${id}/files?path=bin/${name}&mode=0755&create_dirs=true`, { raw: bytes });
  expect(r.status, r.text).toBe(200);
}

/** Polls `check` every 100 ms until it answers true or `ms` passed; answers the last value. */
export async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
