import type { BackendProbe, FeatureStatus, IsolationLevel } from './types.js';

/** A probe for a backend that cannot run here: every feature off, with the same reason. */
export function unavailableProbe(backend: string, isolation: IsolationLevel, reason: string): BackendProbe {
  const off: FeatureStatus = { ok: false, detail: reason };
  return {
    backend,
    available: false,
    reason,
    isolation,
    features: {
      filesystem: off,
      network: off,
      pidNamespace: off,
      seccomp: off,
      memoryLimit: off,
      pidsLimit: off,
      cpuLimit: off,
      suspend: off,
    },
  };
}
