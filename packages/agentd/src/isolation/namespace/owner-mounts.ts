// Moved to ../owner-mounts.ts (owner-preserving bind mounts, usable by any backend that runs sandboxes as their own uid); kept importable from here.
export { closeStaged, stageOwnerMounts, stagingDir, unstageOwnerMounts } from '../owner-mounts.js';
export type { StagedMount } from '../owner-mounts.js';
