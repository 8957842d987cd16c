import { randomBytes } from 'node:crypto';
import { AgentdError } from '../core/errors.js';
import type { SigningKeyRepo } from '../state/signing-keys.js';
import type { SigningKeyRecord } from '../state/types.js';
import { parseEd25519PublicKey } from './signature.js';

export interface SigningKeyRegisterInput {
  /** Ed25519 public key: PEM (SPKI) or the raw 32 bytes in base64. */
  publicKey: string;
  subject: string;
  tenant: string;
  roles: string[];
  /** Key id the client will send in X-Agentd-Key-Id; generated (`sk_<hex>`) when absent. */
  id?: string;
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * Registers, lists and revokes the Ed25519 public keys that the signature provider
 * accepts (stored in state.db; only public halves, so nothing here is secret).
 */
export class SigningKeyService {
  readonly #repo: SigningKeyRepo;
  readonly #now: () => number;

  constructor(repo: SigningKeyRepo, now: () => number = Date.now) {
    this.#repo = repo;
    this.#now = now;
  }

  register(input: SigningKeyRegisterInput): SigningKeyRecord {
    if (input.subject.length === 0 || input.tenant.length === 0) {
      throw new AgentdError('INVALID_ARGUMENT', 'a signing key needs a non-empty subject and tenant');
    }
    try {
      parseEd25519PublicKey(input.publicKey);
    } catch (err) {
      throw new AgentdError('INVALID_ARGUMENT', `not an Ed25519 public key: ${(err as Error).message}`, { cause: err });
    }
    const id = input.id ?? `sk_${randomBytes(8).toString('hex')}`;
    if (!KEY_ID.test(id)) throw new AgentdError('INVALID_ARGUMENT', 'a signing key id is 1-128 letters, digits, _ . : -');
    if (this.#repo.get(id) !== undefined) throw new AgentdError('ALREADY_EXISTS', `signing key ${id} already exists`);
    return this.#repo.insert({ id, publicKey: input.publicKey.trim(), subject: input.subject, tenant: input.tenant, roles: [...new Set(input.roles)], createdAtMs: this.#now() });
  }

  list(filter: { tenant?: string; includeRevoked?: boolean } = {}): SigningKeyRecord[] {
    return this.#repo.list(filter);
  }

  get(id: string): SigningKeyRecord | undefined {
    return this.#repo.get(id);
  }

  revoke(id: string): boolean {
    return this.#repo.revoke(id, this.#now());
  }
}
