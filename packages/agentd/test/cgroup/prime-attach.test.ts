/**
 * CgroupDriver.primeAttach (the namespace backend calls it when a start begins): a no-op
 * move of the daemon into the cgroup it is already in, which starts the kernel's RCU wait of
 * the next cgroup attach early. It must never move the daemon anywhere.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, test } from 'vitest';
import { isolatedDriver } from './helpers.js';

const { driver, teardown } = isolatedDriver();
const probe = await driver.probe();
const usable = Object.values(probe.controllers).some((c) => c.ok) && process.getuid?.() === 0;
if (!usable) console.warn('skipping primeAttach test: no writable cgroup controller (needs root and cgroups)');

describe.skipIf(!usable)('cgroup driver: primeAttach', () => {
  afterAll(async () => {
    await teardown();
  });

  test('leaves this process in the cgroups it was in, and creates nothing', async () => {
    const before = await readFile('/proc/self/cgroup', 'utf8');
    await Promise.all([driver.primeAttach(), driver.primeAttach()]);
    await driver.primeAttach();
    expect(await readFile('/proc/self/cgroup', 'utf8')).toBe(before);
  });
});
