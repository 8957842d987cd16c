import type { BackendFactoryContext, IsolationBackend } from '../types.js';
import { OciBackend } from './backend.js';
import { OciOptionsSchema, parseOptions, type OciOptions } from './options.js';

export { OciBackend, OciSandbox } from './backend.js';
export { OciOptionsSchema, GvisorOptionsSchema } from './options.js';

function make(name: string, runtime: 'auto' | 'runc' | 'crun', ctx: BackendFactoryContext): IsolationBackend {
  const o: OciOptions = parseOptions(OciOptionsSchema, name, ctx.options);
  if (name !== 'oci' && o.runtime !== undefined && o.runtime !== runtime) {
    throw new Error(`isolation.backends.${name}.runtime: backend '${name}' always uses ${runtime}`);
  }
  const paths = { ...(o.runc_path === undefined ? {} : { runc: o.runc_path }), ...(o.crun_path === undefined ? {} : { crun: o.crun_path }) };
  return new OciBackend(
    { name, runtime: name === 'oci' ? (o.runtime ?? 'auto') : runtime, paths, ...(o.host_uid_range === undefined ? {} : { hostUidRange: o.host_uid_range }), ...(o.cgroup_parent === undefined ? {} : { cgroupParent: o.cgroup_parent }) },
    ctx.initPath,
    ctx.logger,
  );
}

/** `oci`: the runtime from `isolation.backends.oci.runtime` (auto: crun when it works here, else runc). */
export function createOciBackend(ctx: BackendFactoryContext): IsolationBackend {
  return make('oci', 'auto', ctx);
}

/** `oci-runc` (alias `runc`): always runc. */
export function createOciRuncBackend(ctx: BackendFactoryContext): IsolationBackend {
  return make('oci-runc', 'runc', ctx);
}

/** `oci-crun` (alias `crun`): always crun. */
export function createOciCrunBackend(ctx: BackendFactoryContext): IsolationBackend {
  return make('oci-crun', 'crun', ctx);
}
