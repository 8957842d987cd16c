// Moved to ../which.ts (shared by every backend); kept importable from here.
export { findExecutable } from '../which.js';
