/** Small helpers over plain JSON-like values (objects from TOML, env and overrides). */

export type PathSegment = string | number;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Freezes a value and everything reachable from it; returns it typed as deeply readonly. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** A deep copy of plain objects and arrays (TOML dates and other leaves are kept as is). */
export function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneJson(v)]));
  return value;
}

/**
 * `over` laid on `base`: plain objects merge key by key, everything else (arrays
 * included) from `over` replaces. `undefined` in `over` keeps the base. Inputs untouched.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return cloneJson(base);
  if (isPlainObject(base) && isPlainObject(over)) {
    // fromEntries defines own properties: a "__proto__" key stays a key (and an unknown one).
    const keys = [...new Set([...Object.keys(base), ...Object.keys(over)])];
    return Object.fromEntries(keys.map((key) => [key, deepMerge(Object.hasOwn(base, key) ? base[key] : undefined, Object.hasOwn(over, key) ? over[key] : undefined)]));
  }
  return cloneJson(over);
}

export function getAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isPlainObject(cur) && typeof seg === 'string') cur = cur[seg];
    else return undefined;
  }
  return cur;
}

/** Sets `value` at `path`, creating plain objects on the way (replacing non-objects). */
export function setAt(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = root;
  path.forEach((seg, i) => {
    if (i === path.length - 1) {
      cur[seg] = value;
      return;
    }
    const next = cur[seg];
    if (!isPlainObject(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  });
}

/** Marks the value at `path` for removal; returns false if nothing is there. Call compact() after. */
export function removeAt(root: unknown, path: readonly PathSegment[], tombstone: symbol): boolean {
  if (path.length === 0) return false;
  const parent = getAt(root, path.slice(0, -1));
  const last = path[path.length - 1];
  if (Array.isArray(parent) && typeof last === 'number' && last < parent.length) {
    parent[last] = tombstone;
    return true;
  }
  if (isPlainObject(parent) && typeof last === 'string' && Object.hasOwn(parent, last)) {
    delete parent[last];
    return true;
  }
  return false;
}

/** Where each element of a compacted array came from, so issue paths can name the original index. */
export interface IndexTree {
  kept?: number[];
  children: Map<PathSegment, IndexTree>;
}

/** A copy of `root` without tombstoned array elements, and the map back to original indices. */
export function compact(root: unknown, tombstone: symbol): { value: unknown; tree: IndexTree } {
  const tree: IndexTree = { children: new Map() };
  if (Array.isArray(root)) {
    tree.kept = root.flatMap((v, i) => (v === tombstone ? [] : [i]));
    const value = tree.kept.map((i) => {
      const child = compact(root[i], tombstone);
      tree.children.set(i, child.tree);
      return child.value;
    });
    return { value, tree };
  }
  if (isPlainObject(root)) {
    const value = Object.fromEntries(
      Object.entries(root).map(([k, v]) => {
        const child = compact(v, tombstone);
        tree.children.set(k, child.tree);
        return [k, child.value];
      }),
    );
    return { value, tree };
  }
  return { value: root, tree };
}

/** Translates a path in the compacted copy to the same place in the original. */
export function originalPath(tree: IndexTree, path: readonly PathSegment[]): PathSegment[] {
  let node: IndexTree | undefined = tree;
  return path.map((seg) => {
    const orig = node?.kept !== undefined && typeof seg === 'number' ? (node.kept[seg] ?? seg) : seg;
    node = node?.children.get(orig);
    return orig;
  });
}
