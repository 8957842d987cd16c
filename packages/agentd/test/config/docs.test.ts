import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import type { z } from 'zod';
import { AgentdConfigSchema, ENV_OVERRIDES } from '../../src/config/index.js';

const docsPath = new URL('../../../../docs/configuration.md', import.meta.url);

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}
const def = (s: z.ZodType): Def => s._zod.def;

function unwrap(s: z.ZodType): z.ZodType {
  const d = def(s);
  if ((d.type === 'optional' || d.type === 'default') && d.innerType) return unwrap(d.innerType);
  if (d.type === 'pipe' && d.in) return unwrap(d.in);
  return s;
}

const isObjectLike = (s: z.ZodType): boolean => {
  const d = def(unwrap(s));
  return d.type === 'object' || (d.type === 'union' && (d.options ?? []).every((o) => def(unwrap(o)).type === 'object'));
};

/** Every key path of the schema: objects recursed, lists of tables as `[]`, records and scalars as leaves. */
function keyPaths(s: z.ZodType, prefix: string): string[] {
  const d = def(unwrap(s));
  if (d.type === 'object' && d.shape) return Object.entries(d.shape).flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k));
  if (d.type === 'union' && isObjectLike(s)) return [...new Set((d.options ?? []).flatMap((o) => keyPaths(o, prefix)))];
  if (d.type === 'array' && d.element && isObjectLike(d.element)) return keyPaths(d.element, `${prefix}[]`);
  return [prefix];
}

/** Every field's description, so none is missing. */
function undescribed(s: z.ZodType, prefix: string): string[] {
  const d = def(unwrap(s));
  const own = s.description === undefined && unwrap(s).description === undefined ? [prefix] : [];
  if (d.type === 'object' && d.shape) return Object.entries(d.shape).flatMap(([k, v]) => undescribed(v, prefix ? `${prefix}.${k}` : k));
  if (d.type === 'union' && isObjectLike(s)) return (d.options ?? []).flatMap((o) => undescribed(o, prefix));
  if (d.type === 'array' && d.element && isObjectLike(d.element)) return [...own, ...undescribed(d.element, `${prefix}[]`)];
  return own;
}

describe('docs/configuration.md stays true to the schema', () => {
  test('every key is documented', async () => {
    const docs = await readFile(docsPath, 'utf8');
    const paths = keyPaths(AgentdConfigSchema, '');
    expect(paths.length).toBeGreaterThan(50);
    expect(paths.filter((p) => !docs.includes(`\`${p}\``))).toEqual([]);
  });

  test('every environment variable is documented', async () => {
    const docs = await readFile(docsPath, 'utf8');
    for (const o of ENV_OVERRIDES) expect(docs).toContain(`| \`${o.name}\` | \`${o.path.join('.')}\` |`);
  });

  test('every field has a description', () => {
    expect(undescribed(AgentdConfigSchema, '')).toEqual([]);
  });
});
