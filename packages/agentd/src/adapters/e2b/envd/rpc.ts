// STUB (e2b-a's skeleton): e2b-b replaces this file with the process and filesystem services.
import { AgentdError } from '../../../core/errors.js';
import type { HttpServices } from '../../http/services.js';
import type { EnvdRpc } from './types.js';

/** The Connect-RPC services of the in-sandbox plane; this stub answers every call `unimplemented`. */
export function createEnvdRpc(_svc: HttpServices): EnvdRpc {
  return {
    handle(call) {
      return Promise.reject(new AgentdError('UNKNOWN_CAPABILITY', `${call.service}/${call.method} is not implemented`));
    },
    close: () => Promise.resolve(),
  };
}
