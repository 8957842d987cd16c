import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import { fsEdit } from './fs-edit.js';
import { fsList } from './fs-list.js';
import { fsMkdir } from './fs-mkdir.js';
import { fsRead } from './fs-read.js';
import { fsRemove } from './fs-remove.js';
import { fsRename } from './fs-rename.js';
import { fsStat } from './fs-stat.js';
import { fsWrite } from './fs-write.js';
import type { OutputBudget } from './output-budget.js';
import { shellExec, shellExecCapability } from './shell-exec.js';
import { capabilityId, type Capability } from './types.js';

export type { Capability, CapabilityContext, CapabilityOutcome, OutputListener } from './types.js';
export { capabilityId } from './types.js';
export { execResultFromIntent, MAX_RETURNABLE_OUTPUT_BYTES, type ExecResultBody } from './exec-result.js';
export { OutputBudget } from './output-budget.js';

export interface CapabilityDescription {
  name: string;
  version: string;
  description: string;
  params_schema: unknown;
}

/** The capabilities one daemon serves, looked up by "name.version" or by name plus version. */
export class CapabilityRegistry {
  private readonly byId = new Map<string, Capability<unknown>>();

  constructor(caps: ReadonlyArray<Capability<never>>) {
    for (const cap of caps) this.byId.set(capabilityId(cap), cap);
  }

  /** `shell.exec.v1`, or `shell.exec` with version "v1" (default: v1). */
  resolve(capability: string, version?: string): Capability<unknown> {
    const direct = version === undefined ? this.byId.get(capability) : undefined;
    const cap = direct ?? this.byId.get(`${capability}.${version ?? 'v1'}`);
    if (!cap) {
      throw new AgentdError('UNKNOWN_CAPABILITY', `no capability '${capability}'${version ? ` version '${version}'` : ''}`, {
        details: { capability, known: [...this.byId.keys()] },
      });
    }
    return cap;
  }

  /** Every capability id served ("shell.exec.v1"). */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  describe(): CapabilityDescription[] {
    return [...this.byId.values()].map((cap) => ({
      name: capabilityId(cap),
      version: cap.version,
      description: cap.description,
      params_schema: z.toJSONSchema(cap.params, { io: 'input', unrepresentable: 'any' }),
    }));
  }
}

export const BUILTIN_CAPABILITIES = [shellExec, fsRead, fsWrite, fsEdit, fsList, fsStat, fsRemove, fsMkdir, fsRename] as const;

export interface CapabilityRegistryOptions {
  /** The daemon-wide budget of buffered exec output (shell.exec); undefined: none beyond each exec's cap. */
  outputBudget?: OutputBudget;
}

export function createCapabilityRegistry(opts: CapabilityRegistryOptions = {}): CapabilityRegistry {
  const caps = BUILTIN_CAPABILITIES.map((c) => (c === shellExec && opts.outputBudget !== undefined ? shellExecCapability(opts.outputBudget) : c));
  return new CapabilityRegistry(caps as unknown as ReadonlyArray<Capability<never>>);
}
