/**
 * envd's `filesystem.Filesystem` service over agentd: every call is an fs.* intent through
 * the pipeline (auth, validation, policy, audit), or for watches the `files.watch` gate
 * operation over agentd-init's inotify, exactly as the REST routes do. Paths are resolved
 * by agentd-init inside the sandbox, never on the host.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Principal } from '../../../auth/types.js';
import type { DirEntry, FileKind, FileStat, WatchEvent, WatchHandle } from '../../../channel/types.js';
import { MAX_WATCH_DIRS, MAX_WATCHES } from '../../../channel/frames.js';
import { AgentdError, SandboxOsError } from '../../../core/errors.js';
import { errorOfResponse } from '../../http/errors.js';
import type { HttpServices } from '../../http/services.js';
import { callerOf, execUserOf, nameOfId } from './caller.js';
import { EventType, FileType, type EntryInfoSchema, type Filesystem, type FilesystemEventSchema } from './gen/filesystem/filesystem_pb.js';
import { keepaliveMsOf, withKeepalive } from './keepalive.js';
import { toConnectError } from './rpc-errors.js';

type EntryInit = MessageInitShape<typeof EntryInfoSchema>;
type EventInit = MessageInitShape<typeof FilesystemEventSchema>;

/** Most entries one ListDir returns (every level together): more is RESOURCE_EXHAUSTED, never a daemon's worth of memory. */
export const MAX_LISTDIR_ENTRIES = 100_000;
/** Most events a watcher (CreateWatcher) holds between two GetWatcherEvents; older ones are dropped. */
export const MAX_WATCHER_EVENTS = 10_000;
/** How long an ended watch (directory gone, sandbox ended) stays pollable for its last events. */
const ENDED_WATCHER_MS = 60_000;
/** Entries stat'ed at once while listing (owner, group, symlink target). */
const STAT_BATCH = 32;

const S_IFMT = 0o170000;

function fileTypeOf(kind: FileKind): FileType {
  switch (kind) {
    case 'file':
      return FileType.FILE;
    case 'directory':
      return FileType.DIRECTORY;
    case 'symlink':
      return FileType.SYMLINK;
    case 'other':
      return FileType.UNSPECIFIED;
  }
}

/** "drwxr-xr-x" as Go's FileMode.String() writes it (envd's `permissions`): 'L' for a symlink. */
export function permissionsOf(kind: FileKind, mode: number): string {
  const first = kind === 'directory' ? 'd' : kind === 'symlink' ? 'L' : kind === 'other' ? '?' : '-';
  const rwx = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += (mode & (1 << (8 - i))) !== 0 ? rwx[i] : '-';
  return first + s;
}

function entryOf(path: string, s: Pick<FileStat, 'kind' | 'mode' | 'size' | 'mtimeMs'> & Partial<Pick<FileStat, 'uid' | 'gid' | 'linkTarget'>>): EntryInit {
  return {
    name: posix.basename(path) || path,
    type: fileTypeOf(s.kind),
    path,
    size: BigInt(Math.max(0, Math.trunc(s.size))),
    mode: s.mode & ~S_IFMT,
    permissions: permissionsOf(s.kind, s.mode),
    owner: s.uid === undefined ? '' : nameOfId(s.uid),
    group: s.gid === undefined ? '' : nameOfId(s.gid),
    modifiedTime: timestampFromMs(Math.trunc(s.mtimeMs)),
    ...(s.kind === 'symlink' && s.linkTarget !== undefined ? { symlinkTarget: s.linkTarget } : {}),
  };
}

const WATCH_TYPES: Partial<Record<WatchEvent['type'], EventType>> = {
  create: EventType.CREATE, write: EventType.WRITE, remove: EventType.REMOVE, rename: EventType.RENAME, chmod: EventType.CHMOD,
};

/** envd's events for one of agentd's: a rename is RENAME of the old name then CREATE of the new (as inotify/fsnotify report it). */
function eventsOf(e: WatchEvent): EventInit[] {
  const type = WATCH_TYPES[e.type];
  if (type === undefined) return [];
  if (e.type === 'rename') {
    return [{ name: e.path, type: EventType.RENAME }, ...(e.to === undefined ? [] : [{ name: e.to, type: EventType.CREATE }])];
  }
  return [{ name: e.path, type }];
}

interface Watcher {
  id: string;
  tenant: string;
  sandboxId: string;
  handle: WatchHandle;
  events: EventInit[];
  dropped: number;
  abort: AbortController;
}

export interface FilesystemService {
  impl: ServiceImpl<typeof Filesystem>;
  close(): Promise<void>;
}

export function filesystemService(svc: HttpServices): FilesystemService {
  const gate = svc.pipeline.gate;
  const watchers = new Map<string, Watcher>();

  /** Runs an fs capability as an intent on the caller's sandbox; its output, or its error thrown. */
  const fsIntent = async (principal: Principal, sandboxId: string, capability: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> => {
    const resp = await svc.pipeline.execute(principal, { capability, params, sandbox_prefs: { sandbox_id: sandboxId } }, { signal });
    if (resp.status !== 'ok' || !resp.result) throw errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'no result', details: {}, retryable: false });
    return (resp.result.output ?? {}) as Record<string, unknown>;
  };

  /** A path as the SDK gets it back: absolute, relative ones from the sandbox's working directory (where agentd-init resolves them). */
  const absolute = (principal: Principal, sandboxId: string, path: string): string => {
    if (path.startsWith('/')) return posix.normalize(path);
    const workdir = svc.sandboxes.handleOf(principal.tenant, sandboxId).spec.workdir ?? '/';
    return posix.resolve(workdir, path);
  };

  const stat = async (principal: Principal, sandboxId: string, path: string, signal: AbortSignal): Promise<EntryInit> => {
    const out = await fsIntent(principal, sandboxId, 'fs.stat.v1', { path, follow: false }, signal);
    return entryOf(absolute(principal, sandboxId, path), {
      kind: out.kind as FileKind, mode: Number(out.mode), size: Number(out.size), mtimeMs: Number(out.mtime_ms), uid: Number(out.uid), gid: Number(out.gid),
      ...(typeof out.link_target === 'string' ? { linkTarget: out.link_target } : {}),
    });
  };

  /**
   * `include_entry`: the event's entry as it is now (agentd-init's lstat of the path, beneath
   * the watched directory, part of the authorized watch); none for a removed path or one
   * already gone again.
   */
  const withEntry = async (principal: Principal, sandboxId: string, base: string, ev: EventInit, signal: AbortSignal): Promise<EventInit> => {
    if (ev.type === EventType.REMOVE || ev.type === EventType.RENAME) return ev;
    const rel = ev.name ?? '';
    const path = rel === '' ? base : posix.join(base, rel);
    try {
      const s = await svc.sandboxes.handleOf(principal.tenant, sandboxId).channel.fs.stat(path, { follow: false, signal });
      return { name: rel, ...(ev.type === undefined ? {} : { type: ev.type }), entry: entryOf(absolute(principal, sandboxId, path), s) };
    } catch {
      return ev;
    }
  };

  const checkUser = (user: string | undefined): void => {
    execUserOf(user);
  };

  const listDir = async (principal: Principal, sandboxId: string, path: string, depth: number, signal: AbortSignal): Promise<EntryInit[]> => {
    const root = absolute(principal, sandboxId, path);
    const channel = svc.sandboxes.handleOf(principal.tenant, sandboxId).channel;
    const out: EntryInit[] = [];
    // Breadth first; each directory is an fs.list intent (policy and audit per directory).
    let level: string[] = [root];
    for (let d = 1; d <= depth && level.length > 0; d++) {
      const next: string[] = [];
      for (const dir of level) {
        let entries: DirEntry[];
        try {
          const o = await fsIntent(principal, sandboxId, 'fs.list.v1', { path: dir }, signal);
          entries = ((o.entries ?? []) as { name: string; kind: FileKind; mode: number; size: number; mtime_ms: number }[])
            .map((e) => ({ name: e.name, kind: e.kind, mode: e.mode, size: e.size, mtimeMs: e.mtime_ms }));
        } catch (err) {
          // A subdirectory that went away (or cannot be read) meanwhile is skipped, as envd's walk does; the root's error is the caller's.
          if (dir !== root) continue;
          throw err;
        }
        if (out.length + entries.length > MAX_LISTDIR_ENTRIES) {
          throw new AgentdError('RESOURCE_EXHAUSTED', `listing ${root} to depth ${depth} passes ${MAX_LISTDIR_ENTRIES} entries: ask a smaller depth`, { details: { max: MAX_LISTDIR_ENTRIES } });
        }
        // Owner, group and symlink target: the listed entries' own lstat by agentd-init, part of this listing.
        for (let i = 0; i < entries.length; i += STAT_BATCH) {
          const batch = entries.slice(i, i + STAT_BATCH);
          const stats = await Promise.all(batch.map((e) => channel.fs.stat(posix.join(dir, e.name), { follow: false, signal }).catch(() => undefined)));
          batch.forEach((e, j) => {
            const p = posix.join(dir, e.name);
            const s = stats[j];
            out.push(entryOf(p, s === undefined ? e : { ...e, uid: s.uid, gid: s.gid, ...(s.linkTarget === undefined ? {} : { linkTarget: s.linkTarget }) }));
            if (e.kind === 'directory') next.push(p);
          });
        }
      }
      level = next;
    }
    return out;
  };

  const startWatch = async (principal: Principal, sandboxId: string, path: string, recursive: boolean, signal: AbortSignal): Promise<WatchHandle> =>
    gate.run(principal, {
      name: 'files.watch', sandboxId, input: { path, recursive }, target: { path: path.slice(0, 4096) },
      run: async (): Promise<WatchHandle> => {
        if (path === '' || path.includes('\0')) throw new AgentdError('INVALID_ARGUMENT', 'path must be a non-empty path without NUL', { details: { reason: 'path' } });
        const channel = svc.sandboxes.handleOf(principal.tenant, sandboxId).channel;
        if (channel.watch === undefined) throw new AgentdError('INTERNAL', `sandbox '${sandboxId}' cannot watch files`);
        const w = channel.watch(path, { recursive, signal });
        try {
          await w.started;
        } catch (err) {
          if (err instanceof SandboxOsError && (err.syscallCode === 'EMFILE' || err.syscallCode === 'ENOSPC')) {
            throw new AgentdError('RESOURCE_EXHAUSTED', `${err.message}: a sandbox has at most ${MAX_WATCHES} watches of ${MAX_WATCH_DIRS} directories in all`, { cause: err });
          }
          throw err;
        }
        return w;
      },
    });

  const watcherOf = (principal: Principal, sandboxId: string, id: string): Watcher => {
    const w = watchers.get(id);
    if (w === undefined || w.tenant !== principal.tenant || w.sandboxId !== sandboxId) throw new AgentdError('NOT_FOUND', `watcher ${id.slice(0, 64)} not found`, { details: { id: id.slice(0, 64) } });
    return w;
  };

  const removeWatcher = async (w: Watcher): Promise<void> => {
    watchers.delete(w.id);
    w.abort.abort();
    await w.handle.stop().catch(() => undefined);
  };

  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    try {
      return await fn(...a);
    } catch (err) {
      throw toConnectError(err);
    }
  };

  const impl: ServiceImpl<typeof Filesystem> = {
    stat: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      return { entry: await stat(principal, sandboxId, req.path, ctx.signal) };
    }),

    makeDir: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      try {
        await fsIntent(principal, sandboxId, 'fs.mkdir.v1', { path: req.path }, ctx.signal);
      } catch (err) {
        if (err instanceof AgentdError && err.details.errno === 'EEXIST') throw new AgentdError('ALREADY_EXISTS', `${req.path.slice(0, 4096)} already exists`, { details: { path: req.path.slice(0, 4096) } });
        if (!(err instanceof AgentdError && err.details.errno === 'ENOENT')) throw err;
        // Missing parents: envd makes them all.
        await fsIntent(principal, sandboxId, 'fs.mkdir.v1', { path: req.path, parents: true }, ctx.signal);
      }
      return { entry: await stat(principal, sandboxId, req.path, ctx.signal) };
    }),

    move: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      await fsIntent(principal, sandboxId, 'fs.rename.v1', { from: req.source, to: req.destination, overwrite: true }, ctx.signal);
      return { entry: await stat(principal, sandboxId, req.destination, ctx.signal) };
    }),

    listDir: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      const depth = req.depth === 0 ? 1 : req.depth;
      if (depth > 64) throw new AgentdError('INVALID_ARGUMENT', 'depth is at most 64', { details: { reason: 'depth', max: 64 } });
      return { entries: await listDir(principal, sandboxId, req.path, depth, ctx.signal) };
    }),

    remove: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      await fsIntent(principal, sandboxId, 'fs.remove.v1', { path: req.path, recursive: true }, ctx.signal);
      return {};
    }),

    async *watchDir(req, ctx) {
      let watch: WatchHandle;
      let entryOfEvent: ((ev: EventInit) => Promise<EventInit>) | undefined;
      const base = req.path;
      try {
        const { principal, sandboxId, user } = callerOf(ctx);
        checkUser(user);
        watch = await startWatch(principal, sandboxId, req.path, req.recursive, ctx.signal);
        if (req.includeEntry) entryOfEvent = (ev) => withEntry(principal, sandboxId, base, ev, ctx.signal);
      } catch (err) {
        throw toConnectError(err);
      }
      yield { event: { case: 'start', value: {} } };
      try {
        const events = withKeepalive<WatchEvent | 'keepalive'>(watch.events(), keepaliveMsOf(ctx), () => 'keepalive');
        for await (const e of events) {
          if (ctx.signal.aborted) break;
          if (e === 'keepalive') {
            yield { event: { case: 'keepalive', value: {} } };
            continue;
          }
          for (const ev of eventsOf(e)) yield { event: { case: 'filesystem', value: entryOfEvent === undefined ? ev : await entryOfEvent(ev) } };
        }
      } finally {
        await watch.stop().catch(() => undefined);
      }
      const reason: unknown = ctx.signal.reason;
      if (ctx.signal.aborted && reason instanceof ConnectError) throw reason;
      const end = await watch.ended.catch(() => undefined);
      // The watched directory went away: envd ends the stream with an error the SDK reports to onExit.
      if (end?.reason === 'gone') throw new ConnectError(`the watched directory ${base.slice(0, 4096)} was removed or moved`, Code.NotFound);
      if (end?.reason === 'closed') throw new ConnectError('the sandbox ended', Code.Unavailable);
    },

    createWatcher: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId, user } = callerOf(ctx);
      checkUser(user);
      const abort = new AbortController();
      const handle = await startWatch(principal, sandboxId, req.path, req.recursive, AbortSignal.any([abort.signal, svc.stopping]));
      const w: Watcher = { id: `wat_${randomBytes(12).toString('hex')}`, tenant: principal.tenant, sandboxId, handle, events: [], dropped: 0, abort };
      watchers.set(w.id, w);
      void (async () => {
        for await (const e of handle.events()) {
          for (const raw of eventsOf(e)) {
            const ev = req.includeEntry ? await withEntry(principal, sandboxId, req.path, raw, abort.signal) : raw;
            if (w.events.length >= MAX_WATCHER_EVENTS) {
              w.events.shift();
              w.dropped++;
            }
            w.events.push(ev);
          }
        }
      })().catch(() => undefined).finally(() => {
        // The watch ended (its directory or sandbox went): a last poll may still read its events, then it goes.
        if (watchers.get(w.id) === w) setTimeout(() => { if (watchers.get(w.id) === w) watchers.delete(w.id); }, ENDED_WATCHER_MS).unref();
      });
      return { watcherId: w.id };
    }),

    getWatcherEvents: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      return gate.run(principal, {
        name: 'files.watcher.events', sandboxId, target: { watcher_id: req.watcherId.slice(0, 64) },
        run: () => {
          const w = watcherOf(principal, sandboxId, req.watcherId);
          const events = w.events;
          w.events = [];
          return { events };
        },
      });
    }),

    removeWatcher: wrap(async (req, ctx: HandlerContext) => {
      const { principal, sandboxId } = callerOf(ctx);
      await gate.run(principal, {
        name: 'files.watcher.remove', sandboxId, target: { watcher_id: req.watcherId.slice(0, 64) },
        run: () => removeWatcher(watcherOf(principal, sandboxId, req.watcherId)),
      });
      return {};
    }),
  };

  return {
    impl,
    close: async () => {
      await Promise.all([...watchers.values()].map((w) => removeWatcher(w)));
    },
  };
}
