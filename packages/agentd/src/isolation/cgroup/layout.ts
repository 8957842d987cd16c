/**
 * Where the host's cgroup hierarchies are mounted, read from /proc/self/mountinfo rather
 * than guessed from directory names. Pure parsing here; the driver does the reading.
 */

/** The v1 controllers agentd uses. `cpuacct` only reports CPU time; `cpu` enforces the quota. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupLayout {
  /** Mount point of each v1 hierarchy that carries a controller we use (comounted ones share a path). */
  v1: Partial<Record<V1Controller, string>>;
  /** Mount point of the cgroup2 hierarchy, if one is mounted. */
  unified?: string;
}

export type CgroupVersion = 1 | 2 | 'hybrid' | 'none';

interface MountEntry {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses /proc/<pid>/mountinfo (see proc(5)); malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const mountPoint = fields[4];
    const fsType = fields[sep + 1];
    const superOptions = fields[sep + 3];
    if (sep < 0 || mountPoint === undefined || fsType === undefined || superOptions === undefined) continue;
    entries.push({ mountPoint: unescapeMountField(mountPoint), fsType, superOptions: superOptions.split(',') });
  }
  return entries;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/**
 * The cgroup layout from mountinfo text, considering only mounts at or under `root`
 * (default `/sys/fs/cgroup`). When a hierarchy is mounted twice, the first mount wins.
 */
export function layoutFromMountinfo(text: string, root = '/sys/fs/cgroup'): CgroupLayout {
  const layout: CgroupLayout = { v1: {} };
  for (const m of parseMountinfo(text)) {
    if (!isUnder(m.mountPoint, root)) continue;
    if (m.fsType === 'cgroup2') {
      layout.unified ??= m.mountPoint;
    } else if (m.fsType === 'cgroup') {
      for (const c of V1_CONTROLLERS) {
        if (m.superOptions.includes(c)) layout.v1[c] ??= m.mountPoint;
      }
    }
  }
  return layout;
}

/** 2 = pure unified; 'hybrid' = v1 controllers plus a cgroup2 mount; 1 = v1 only. */
export function layoutVersion(layout: CgroupLayout): CgroupVersion {
  const hasV1 = Object.keys(layout.v1).length > 0;
  if (hasV1 && layout.unified !== undefined) return 'hybrid';
  if (hasV1) return 1;
  if (layout.unified !== undefined) return 2;
  return 'none';
}

/**
 * Parses /proc/<pid>/cgroup: `hierarchy-id:controllers:path` per line. Returns the path of
 * each v1 controller and, under the key '', the cgroup2 path.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') paths.set('', path);
    else for (const c of controllers.split(',')) paths.set(c, path);
  }
  return paths;
}
