import { createHostDirectBackend, HostDirectOptionsSchema } from './host-direct/backend.js';
import { createLinuxNativeBackend } from './linux-native/backend.js';
import { LinuxNativeOptionsSchema } from './linux-native/options.js';
import { createNamespaceBackend } from './namespace/backend.js';
import { NamespaceOptionsSchema } from './namespace/options.js';
import { createGvisorBackend, GvisorOptionsSchema } from './gvisor/backend.js';
import { createOciBackend, createOciCrunBackend, createOciRuncBackend, OciOptionsSchema } from './oci/index.js';
import { createPodmanBackend, PodmanOptionsSchema } from './podman/index.js';
import { BackendRegistry } from './registry.js';

/** A registry with the built-in backends registered (aliases come from the built-in name table). */
export function createBuiltinRegistry(): BackendRegistry {
  return new BackendRegistry()
    .register('namespace', createNamespaceBackend, { optionsSchema: NamespaceOptionsSchema })
    .register('oci', createOciBackend, { optionsSchema: OciOptionsSchema })
    .register('oci-runc', createOciRuncBackend, { optionsSchema: OciOptionsSchema })
    .register('oci-crun', createOciCrunBackend, { optionsSchema: OciOptionsSchema })
    .register('gvisor', createGvisorBackend, { optionsSchema: GvisorOptionsSchema })
    .register('linux-native', createLinuxNativeBackend, { optionsSchema: LinuxNativeOptionsSchema })
    .register('host-direct', createHostDirectBackend, { optionsSchema: HostDirectOptionsSchema })
    .register('podman', createPodmanBackend, { optionsSchema: PodmanOptionsSchema });
}
