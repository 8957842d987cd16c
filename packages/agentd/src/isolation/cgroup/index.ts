export { CgroupDriver, DEFAULT_CGROUP_PARENT } from './driver.js';
export type { CgroupController, CgroupDriverOptions, CgroupProbe } from './driver.js';
export { SandboxCgroup } from './group.js';
export type { CgroupUsage, Placement, SandboxCgroupPaths, WaitOptions } from './group.js';
export { layoutFromMountinfo, layoutVersion, parseMountinfo, parseProcCgroup } from './layout.js';
export type { CgroupLayout, CgroupVersion, V1Controller } from './layout.js';
export { CPU_PERIOD_US, cgroupLimits, cpuQuotaUs } from './limits.js';
export type { RequestedLimit } from './limits.js';
export { toSandboxUsage } from './usage.js';
