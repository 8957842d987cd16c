import type { z } from 'zod';
import type { PathSegment } from './objects.js';

interface DefLike {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (schema: z.ZodType): DefLike => schema._zod.def;

/** Strips wrappers that do not change the shape (optional, default, pipes from transforms). */
function unwrap(schema: z.ZodType): z.ZodType {
  let cur = schema;
  for (;;) {
    const def = defOf(cur);
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else return cur;
  }
}

/**
 * The keys the object schema at `path` accepts, for "did you mean" hints. `value` is the
 * input at the same place, used to pick the member of a discriminated union by `type`.
 */
export function knownKeysAt(schema: z.ZodType, path: readonly PathSegment[], valueAt: (path: readonly PathSegment[]) => unknown): string[] {
  let cur: z.ZodType | undefined = unwrap(schema);
  let i = 0;
  while (cur) {
    const def = defOf(cur);
    if (def.type === 'union' && def.options) {
      const type = (valueAt(path.slice(0, i)) as { type?: unknown } | undefined)?.type;
      cur = def.options.map(unwrap).find((o) => {
        const lit = defOf(o).shape?.type;
        return lit !== undefined && (lit._zod.def as unknown as { values?: unknown[] }).values?.includes(type);
      });
      continue;
    }
    if (i === path.length) return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
    const seg = path[i];
    if (def.type === 'object' && def.shape && typeof seg === 'string') cur = def.shape[seg];
    else if (def.type === 'array' && def.element) cur = def.element;
    else if (def.type === 'record' && def.valueType) cur = def.valueType;
    else return [];
    if (cur) cur = unwrap(cur);
    i++;
  }
  return [];
}
