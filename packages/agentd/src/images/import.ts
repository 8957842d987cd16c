/**
 * `agentd image import NAME SOURCE`: SOURCE is a root file system tarball (.tar, .tar.gz:
 * tar detects the compression) or an OCI image layout directory (`oci-layout`, `index.json`,
 * `blobs/sha256/...`; the wire format of the OCI image-spec, read here directly): index ->
 * manifest -> layers applied in order, whiteouts (`.wh.NAME` removes NAME of the layers
 * below, `.wh..wh..opq` empties its folder) handled before each layer's files land. Every
 * blob read is checked against its digest. Extraction runs in the jail (jail.ts), as root so
 * owners and modes are kept, where a hostile member or link can reach only the staging tree.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { runInJail } from './jail.js';
import type { Progress } from './build.js';
import type { ImageConfig, ImageInfo, ImageStore } from './store.js';
import { checkImageName } from './store.js';


/** Applies one layer (at /input/$1): its whiteouts first, then its files (whiteout markers left out). */
const APPLY_LAYER = `
set -e
layer="/input/$1"
tar -tf "$layer" | while IFS= read -r p; do
  p="\${p#./}"; p="\${p%/}"
  base="\${p##*/}"; dir="\${p%/*}"; [ "$dir" = "$p" ] && dir=.
  case "$base" in
    .wh..wh..opq) [ -d "./$dir" ] && [ ! -L "./$dir" ] && find "./$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} + ;;
    .wh.*) rm -rf "./$dir/\${base#.wh.}" ;;
  esac
done
tar -xpf "$layer" --numeric-owner --exclude='.wh.*'
`;

function checkSourcePath(path: string): string {
  if (path.includes('\0')) throw new AgentdError('INVALID_ARGUMENT', 'import source: a path without NUL bytes');
  return resolve(path);
}

export async function importImage(store: ImageStore, name: string, source: string, progress: Progress = () => undefined, signal?: AbortSignal): Promise<ImageInfo> {
  checkImageName(name);
  if (process.geteuid?.() !== 0) throw new AgentdError('PERMISSION_DENIED', 'image import keeps file owners, so it runs as root (or through a root daemon)');
  const path = checkSourcePath(source);
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) throw new AgentdError('NOT_FOUND', `import source ${path} does not exist`, { details: { path } });
  const started = Date.now();
  const staging = await store.staging();
  const rootfs = join(staging, 'rootfs');
  await mkdir(rootfs, { mode: 0o755 });
  let config: ImageConfig = {};
  let src: { kind: 'tar' | 'oci'; [k: string]: unknown };
  try {
    if (st.isDirectory()) {
      const layout = await readOciLayout(path);
      progress(`OCI layout: ${layout.layers.length} layer(s), manifest ${layout.manifestDigest}`);
      for (const [i, layer] of layout.layers.entries()) {
        progress(`layer ${i + 1}/${layout.layers.length} ${layer.digest}`);
        await runInJail({ target: rootfs, inputs: [layer.path], script: APPLY_LAYER, args: ['0'], ...(signal ? { signal } : {}) });
      }
      config = layout.config;
      src = { kind: 'oci', path, manifest: layout.manifestDigest };
    } else if (st.isFile()) {
      progress(`extracting ${path}`);
      await runInJail({ target: rootfs, inputs: [path], script: 'set -e; tar -xpf /input/0 --numeric-owner', ...(signal ? { signal } : {}) });
      src = { kind: 'tar', path };
    } else {
      throw new AgentdError('INVALID_ARGUMENT', `import source ${path} is neither a tarball nor an OCI layout directory`, { details: { path } });
    }
  } catch (err) {
    await store.discard(staging);
    throw err;
  }
  progress('storing the image (digest of every file)');
  return store.add(name, staging, src, config, started, signal);
}


interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { os?: string; architecture?: string };
}

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

function bad(message: string, details: Record<string, unknown> = {}): AgentdError {
  return new AgentdError('INVALID_ARGUMENT', `OCI layout: ${message}`, { details });
}

function hashFile(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('error', rej).on('end', () => res(h.digest('hex')));
  });
}

/** A blob's host path, after checking that its bytes have its digest. */
async function blob(dir: string, d: Descriptor): Promise<string> {
  const m = /^sha256:([0-9a-f]{64})$/.exec(String(d.digest));
  if (m?.[1] === undefined) throw bad(`unsupported digest '${String(d.digest)}' (sha256 only)`);
  const path = join(dir, 'blobs', 'sha256', m[1]);
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined || !st.isFile()) throw bad(`blob ${d.digest} is missing (blobs/sha256/${m[1]})`, { digest: d.digest });
  if (d.size !== undefined && st.size !== d.size) throw bad(`blob ${d.digest} has ${st.size} bytes, its descriptor says ${d.size}`, { digest: d.digest });
  const got = await hashFile(path);
  if (got !== m[1]) throw bad(`blob ${d.digest} does not match its digest (sha256:${got})`, { digest: d.digest });
  return path;
}

async function json(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(`${path} is not valid JSON (${(err as Error).message})`);
  }
}

function pickManifest(index: Record<string, unknown>): Descriptor {
  const list = Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
  if (list.length === 0) throw bad('index.json lists no manifest');
  return list.find((d) => d.platform?.os === 'linux' && d.platform.architecture === 'amd64') ?? list.find((d) => d.platform === undefined) ?? (list[0] as Descriptor);
}

export interface OciLayout {
  manifestDigest: string;
  layers: Array<{ digest: string; path: string }>;
  config: ImageConfig;
}

export async function readOciLayout(dir: string): Promise<OciLayout> {
  const marker = await json(join(dir, 'oci-layout')).catch(() => undefined);
  if (marker === undefined || typeof marker.imageLayoutVersion !== 'string') throw bad(`${dir} has no oci-layout file with imageLayoutVersion`, { path: dir });
  let desc = pickManifest(await json(join(dir, 'index.json')));
  let manifest = await json(await blob(dir, desc));
  for (let depth = 0; (INDEX_TYPES.has(String(desc.mediaType)) || Array.isArray(manifest.manifests)) && depth < 4; depth++) {
    desc = pickManifest(manifest);
    manifest = await json(await blob(dir, desc));
  }
  const layers = Array.isArray(manifest.layers) ? (manifest.layers as Descriptor[]) : undefined;
  if (layers === undefined) throw bad(`manifest ${desc.digest} has no layers`);
  const out: OciLayout = { manifestDigest: desc.digest, layers: [], config: {} };
  for (const l of layers) {
    if (!LAYER_TYPES.has(String(l.mediaType))) throw bad(`layer ${l.digest} has media type '${String(l.mediaType)}': only tar and tar+gzip layers are read (not zstd, not foreign layers)`, { mediaType: l.mediaType });
    out.layers.push({ digest: l.digest, path: await blob(dir, l) });
  }
  const cfgDesc = manifest.config as Descriptor | undefined;
  if (cfgDesc !== undefined) {
    const cfg = (await json(await blob(dir, cfgDesc))).config as Record<string, unknown> | undefined;
    if (cfg !== undefined && cfg !== null) {
      const env: Record<string, string> = {};
      for (const e of Array.isArray(cfg.Env) ? (cfg.Env as unknown[]) : []) {
        const s = String(e);
        const i = s.indexOf('=');
        if (i > 0) env[s.slice(0, i)] = s.slice(i + 1);
      }
      const cmd = [...(Array.isArray(cfg.Entrypoint) ? (cfg.Entrypoint as unknown[]) : []), ...(Array.isArray(cfg.Cmd) ? (cfg.Cmd as unknown[]) : [])].map(String);
      out.config = {
        ...(Object.keys(env).length > 0 ? { env } : {}),
        ...(cmd.length > 0 ? { cmd } : {}),
        ...(typeof cfg.WorkingDir === 'string' && cfg.WorkingDir !== '' ? { workdir: cfg.WorkingDir } : {}),
      };
    }
  }
  return out;
}
