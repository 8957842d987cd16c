/**
 * `agentd image build NAME`: a Debian root file system made by mmdebstrap (as root, variant
 * `apt`: Essential packages plus apt) with the packages asked for, from the mirror this
 * host's apt uses (read from /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list;
 * never another host). Package maintainer scripts run as root in mmdebstrap's chroot: this
 * is an operator's command (the REST route needs the admin role).
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import type { ImageInfo, ImageStore } from './store.js';
import { checkImageName } from './store.js';

const PACKAGE = /^[a-z0-9][a-z0-9+.-]{0,127}$/;
const SUITE = /^[a-z][a-z0-9-]{0,63}$/;

export interface BuildRequest {
  name: string;
  packages: string[];
  /** Debian suite (default: the first suite of the host's main apt source, else bookworm). */
  suite?: string;
}

export type Progress = (line: string) => void;

/** The first `deb` URI of the host's apt sources (deb822 files first, then sources.list), and its first suite. */
export async function hostMirror(etc = '/etc/apt'): Promise<{ uri: string; suite?: string }> {
  const files = (await readdir(join(etc, 'sources.list.d')).catch(() => [] as string[])).filter((f) => f.endsWith('.sources')).sort();
  for (const f of files) {
    const text = await readFile(join(etc, 'sources.list.d', f), 'utf8').catch(() => '');
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (k: string): string | undefined => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
      if (!(field('Types') ?? '').split(/\s+/).includes('deb')) continue;
      const uri = field('URIs')?.split(/\s+/)[0];
      const suites = (field('Suites') ?? '').split(/\s+/).filter((s) => s !== '' && !s.includes('/'));
      if (uri === undefined || /security/.test(uri)) continue;
      const suite = suites.find((s) => !s.includes('-'));
      return { uri, ...(suite === undefined ? {} : { suite }) };
    }
  }
  const list = await readFile(join(etc, 'sources.list'), 'utf8').catch(() => '');
  for (const line of list.split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] !== undefined && !/security/.test(m[1])) return { uri: m[1], ...(m[2] === undefined ? {} : { suite: m[2] }) };
  }
  throw new AgentdError('BACKEND_UNAVAILABLE', `no Debian mirror found in ${etc}/sources.list.d/*.sources or ${etc}/sources.list: image build uses the mirror apt uses`);
}

export function checkBuild(req: BuildRequest): void {
  checkImageName(req.name);
  for (const p of req.packages) {
    if (!PACKAGE.test(p)) throw new AgentdError('INVALID_ARGUMENT', `package name '${p}' is not a Debian package name`, { details: { package: p } });
  }
  if (req.suite !== undefined && !SUITE.test(req.suite)) throw new AgentdError('INVALID_ARGUMENT', `suite '${req.suite}' is not a Debian suite name`, { details: { suite: req.suite } });
}

export async function buildImage(store: ImageStore, req: BuildRequest, progress: Progress = () => undefined, signal?: AbortSignal): Promise<ImageInfo> {
  checkBuild(req);
  if (process.geteuid?.() !== 0) throw new AgentdError('PERMISSION_DENIED', 'image build runs mmdebstrap as root: run it as root (or through a root daemon)');
  const mirror = await hostMirror();
  const suite = req.suite ?? mirror.suite ?? 'bookworm';
  const packages = [...new Set(req.packages)].sort();
  const started = Date.now();
  const staging = await store.staging();
  const rootfs = join(staging, 'rootfs');
  await mkdir(rootfs, { mode: 0o755 });
  const argv = ['--variant=apt', '--mode=root', '--format=directory', ...(packages.length > 0 ? [`--include=${packages.join(',')}`] : []), suite, rootfs, mirror.uri];
  progress(`mmdebstrap ${argv.join(' ')}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('mmdebstrap', argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, ...(signal ? { signal } : {}) });
      let tail = '';
      let partial = '';
      const onData = (s: string): void => {
        tail = (tail + s).slice(-4000);
        partial += s;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) if (l.trim() !== '') progress(l);
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', onData);
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (signal?.aborted) return reject(new AgentdError('CANCELLED', 'image build cancelled', { cause: err }));
        reject(new AgentdError('BACKEND_UNAVAILABLE', err.code === 'ENOENT' ? 'mmdebstrap is not installed (apt-get install mmdebstrap; scripts/setup.sh installs it)' : `mmdebstrap: ${err.message}`, { cause: err }));
      });
      child.on('close', (code) => {
        if (code === 0) return resolve();
        const last = tail.trim().split('\n').slice(-6).join('\n');
        const net = /(Could not resolve|Failed to fetch|Temporary failure|Connection (refused|timed out)|Unable to connect)/i.test(tail);
        reject(new AgentdError(net ? 'UNAVAILABLE' : 'INTERNAL', `image build failed (mmdebstrap exit ${code ?? 'signal'}${net ? `: the Debian mirror ${mirror.uri} is unreachable` : ''}):\n${last}`, { details: { mirror: mirror.uri, suite } }));
      });
    });
  } catch (err) {
    await store.discard(staging);
    throw err;
  }
  progress('storing the image (digest of every file)');
  return store.add(req.name, staging, { kind: 'mmdebstrap', suite, packages, mirror: mirror.uri, variant: 'apt' }, {}, started, signal);
}
