import { randomFillSync } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Random bytes drawn ahead, 256 ids' worth per system call (each byte is used once). */
const pool = Buffer.alloc(4096);
let used = pool.length;

/** A random id like `sbx_k3j5q2m7x4ab2c`: a kind prefix and 80 bits of base32. */
export function newId(prefix: 'sbx' | 'ses' | 'snap' | 'int' | 'cmd'): string {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  let out = '';
  for (let i = 0; i < 16; i++) out += ALPHABET[(pool[used + i] ?? 0) & 31];
  used += 16;
  return `${prefix}_${out}`;
}
