import { isIP } from 'node:net';
import { classifyAddress } from './address.js';
import type { Resolver, ResolvedAddress } from './resolver.js';
import { hostMatches, ipMatches, normalizeHost, type Rule } from './rules.js';

/**
 * One layer of rules. A connection must be allowed by every layer that has an allow list and
 * denied by none: the config's layer (`network.allow` + the profile's + the tenant's) always has
 * one; a sandbox's own layer (at create, or changed while it runs) has one only if it was given,
 * so a sandbox's rules can only narrow what the config grants. `allow` undefined: this layer
 * adds no allow constraint; `[]`: it allows nothing.
 */
export interface RuleLayer {
  name: string;
  allow?: readonly Rule[];
  deny: readonly Rule[];
}

export interface Decision {
  allowed: boolean;
  /** Why, in words ("allowed", "not in the allowlist", "resolves to loopback 127.0.0.1"...). */
  reason: string;
  /** A short stable reason for metrics labels. */
  code: DecisionCode;
  /** The rule that decided (allow or deny), as written. */
  rule?: string;
  /** The address connected to (allowed), or the refused one. */
  address?: string;
  family?: 4 | 6;
}

export type DecisionCode = 'allowed' | 'deny-rule' | 'not-listed' | 'ip-literal' | 'special-address' | 'resolve-failed' | 'bad-host' | 'mode' | 'sni-mismatch' | 'bad-request' | 'connect-failed';
export const DECISION_CODES: readonly DecisionCode[] = ['allowed', 'deny-rule', 'not-listed', 'ip-literal', 'special-address', 'resolve-failed', 'bad-host', 'mode', 'sni-mismatch', 'bad-request', 'connect-failed'];

const denied = (code: DecisionCode, reason: string, extra: Partial<Decision> = {}): Decision => ({ allowed: false, code, reason, ...extra });

function firstDeny(layers: readonly RuleLayer[], test: (r: Rule) => boolean): Rule | undefined {
  for (const l of layers) for (const r of l.deny) if (test(r)) return r;
  return undefined;
}

/** The matching allow rule of the innermost layer, or undefined when some layer allows nothing that matches. */
function allowedByAll(layers: readonly RuleLayer[], test: (r: Rule) => boolean, onlyIpLayers = false): Rule | undefined {
  let match: Rule | undefined;
  for (const l of layers) {
    if (l.allow === undefined) continue;
    // The address of a name: a layer naming no IP range at all (a sandbox's list of hosts) leaves the ranges to the others.
    if (onlyIpLayers && !l.allow.some((r) => r.kind === 'ip')) continue;
    const r = l.allow.find(test);
    if (r === undefined) return undefined;
    match = r;
  }
  return match;
}

/** Decides one connection to `host`:`port`, resolving names itself. Never throws. */
export async function decide(layers: readonly RuleLayer[], rawHost: string, port: number, resolver: Resolver, own: ReadonlySet<string>, exempt?: (host: string, address: string, port: number) => boolean): Promise<Decision> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return denied('bad-request', `port ${port} is out of range`);
  const literal = rawHost.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0) {
    const deny = firstDeny(layers, (r) => ipMatches(r, literal, port));
    if (deny) return denied('deny-rule', `${literal}:${port} is denied by rule '${deny.text}'`, { rule: deny.text, address: literal });
    const allow = allowedByAll(layers, (r) => ipMatches(r, literal, port));
    if (!allow) return denied('ip-literal', `IP address ${literal}:${port} is not allowed (only an IP rule can allow an address; use the host name)`, { address: literal });
    return { allowed: true, code: 'allowed', reason: 'allowed', rule: allow.text, address: literal, family: isIP(literal) === 4 ? 4 : 6 };
  }
  const host = normalizeHost(rawHost);
  if (host === undefined) return denied('bad-host', `'${rawHost.slice(0, 100)}' is not a host name`);
  const deny = firstDeny(layers, (r) => hostMatches(r, host, port));
  if (deny) return denied('deny-rule', `${host}:${port} is denied by rule '${deny.text}'`, { rule: deny.text });
  const allow = allowedByAll(layers, (r) => hostMatches(r, host, port));
  if (!allow) return denied('not-listed', `${host}:${port} is not in the allowlist`);
  let addrs: ResolvedAddress[];
  try {
    addrs = await resolver.resolve(host);
  } catch (err) {
    return denied('resolve-failed', `${host} could not be resolved: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { rule: allow.text });
  }
  const refused: string[] = [];
  for (const a of addrs) {
    const d = firstDeny(layers, (r) => ipMatches(r, a.address, port));
    if (d) {
      refused.push(`${a.address} (denied by rule '${d.text}')`);
      continue;
    }
    const cls = classifyAddress(a.address, own);
    if (cls !== 'public' && exempt?.(host, a.address, port) !== true && !allowedByAll(layers, (r) => ipMatches(r, a.address, port), true)) {
      refused.push(`${a.address} (${cls}${cls === 'own' ? ' address of the daemon host' : ''})`);
      continue;
    }
    return { allowed: true, code: 'allowed', reason: 'allowed', rule: allow.text, address: a.address, family: a.family };
  }
  if (addrs.length === 0) return denied('resolve-failed', `${host} has no address`, { rule: allow.text });
  return denied('special-address', `${host} resolves only to refused addresses: ${refused.join(', ')} (no IP rule names them)`, { rule: allow.text, address: addrs[0]?.address });
}
