/** The built code the bench imports (npm run build makes it). */
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);
const at = (p) => fileURLToPath(new URL(p, root));

export const PATHS = {
  root: at('.'),
  cli: at('packages/agentd/dist/cli/main.js'),
  /** The CLI users run: `./agentd` (the bundle in dist-cli when built, else dist/cli/main.js). */
  agentdScript: at('agentd'),
  cliBundle: at('packages/agentd/dist-cli/main.js'),
  agentdDist: at('packages/agentd/dist/'),
  sdk: at('packages/sdk/dist/index.js'),
  init: at('packages/agentd/native/build/agentd-init'),
  seccomp: at('packages/agentd/native/build/seccomp.bpf'),
  srt: at('node_modules/@anthropic-ai/sandbox-runtime/dist/index.js'),
  results: at('bench/results/'),
};

/** Imports a module of the built daemon package by its path under dist/. */
export function importAgentd(rel) {
  return import(new URL(`packages/agentd/dist/${rel}`, root).href);
}
