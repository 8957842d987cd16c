import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import { fsEdit } from './fs-edit.js';
import { fsList } from './fs-list.js';
import { fsMkdir } from './fs-mkdir.js';
import { fsRead } from './fs-read.js';
import { fsRemove } from './fs-remove.js';
import { fsStat } from './fs-stat.js';
import { fsWrite } from './fs-write.js';
import { shellExec } from './shell-exec.js';
import { capabilityId, type Capability } from './types.js';

export type { Capability, CapabilityContext, CapabilityOutcome, OutputListener } from './types.js';
export { capabilityId } from './types.js';
export { execResultFromIntent, type ExecResultBody } from './exec-result.js';

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

  describe(): CapabilityDescription[] {
    return [...this.byId.values()].map((cap) => ({
      name: capabilityId(cap),
      version: cap.version,
      description: cap.description,
      params_schema: z.toJSONSchema(cap.params, { io: 'input', unrepresentable: 'any' }),
    }));
  }
}

export const BUILTIN_CAPABILITIES = [shellExec, fsRead, fsWrite, fsEdit, fsList, fsStat, fsRemove, fsMkdir] as const;

export function createCapabilityRegistry(): CapabilityRegistry {
  return new CapabilityRegistry(BUILTIN_CAPABILITIES as unknown as ReadonlyArray<Capability<never>>);
}
