import { describe, expect, test } from 'vitest';
import { formatDuration, parseDuration, parseSize } from '../../src/util/units.js';

describe('util/units: durations and sizes as a human types them', () => {
  test('durations to milliseconds; a bare number in the caller\'s unit', () => {
    const ms = (t: string, bare: 's' | 'ms' = 'ms'): number | string => {
      const r = parseDuration(t, bare);
      return r.ok ? r.value : r.message;
    };
    expect([ms('500ms'), ms('30s'), ms('10m'), ms('1h'), ms('2d'), ms('1.5s'), ms('250'), ms('2', 's'), ms(' 10M ')]).toEqual([500, 30_000, 600_000, 3_600_000, 172_800_000, 1500, 250, 2000, 600_000]);
    expect(ms('soon')).toMatch(/expected a duration like 500ms, 30s, 10m or 1h/);
    expect(ms('-1s')).toMatch(/expected a duration/);
    expect(ms('1y')).toMatch(/expected a duration/);
  });

  test('sizes to bytes (binary units)', () => {
    const b = (t: string): number | string => {
      const r = parseSize(t);
      return r.ok ? r.value : r.message;
    };
    expect([b('512'), b('64k'), b('512m'), b('2g'), b('1t'), b('512Mi'), b('512MB'), b('512MiB'), b('1.5k'), b('10b')]).toEqual([512, 65_536, 512 * 1024 ** 2, 2 * 1024 ** 3, 1024 ** 4, 512 * 1024 ** 2, 512 * 1024 ** 2, 512 * 1024 ** 2, 1536, 10]);
    expect(b('lots')).toMatch(/expected a size like 64k, 512m, 2g/);
    expect(b('5x')).toMatch(/expected a size/);
  });

  test('formatDuration picks the shortest exact unit', () => {
    expect([formatDuration(60_000), formatDuration(500), formatDuration(1500), formatDuration(7_200_000)]).toEqual(['1m', '500ms', '1.5s', '2h']);
  });
});
