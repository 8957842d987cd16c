export { cleanupSnapshotLeftovers, createSnapshot, deleteSnapshot, forkFromSnapshot, restoreSnapshot, snapshotSize } from './snapshot.js';
export type { CreateSnapshotOptions, SnapshotInfo, SnapshotOptions } from './snapshot.js';
export { MANIFEST_FILE, SNAPSHOT_PARTS, SnapshotManifestSchema, readManifest } from './manifest.js';
export type { SnapshotManifest, SnapshotPart } from './manifest.js';
export type { TreeStats } from './copy.js';
