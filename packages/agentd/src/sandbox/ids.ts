import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** A random id like `sbx_k3j5q2m7x4ab2c`: a kind prefix and 80 bits of base32. */
export function newId(prefix: 'sbx' | 'ses' | 'snap' | 'int' | 'cmd'): string {
  const bytes = randomBytes(16);
  let out = '';
  for (let i = 0; i < 16; i++) out += ALPHABET[(bytes[i] ?? 0) & 31];
  return `${prefix}_${out}`;
}
