import { BlockList, isIP } from 'node:net';
import { AgentdError } from '../core/errors.js';

/**
 * Egress rules (docs/network.md). A rule is a string:
 * - `pypi.org`, `pypi.org:443`, `pypi.org:80,443`, `pypi.org:8000-8100`: one host name;
 * - `*.npmjs.org[:ports]`: every name below npmjs.org (not npmjs.org itself);
 * - `10.1.2.3`, `10.0.0.0/8[:ports]`, `[::1]:8080`, `fd00::/8`: an IP range. An IP rule is the
 *   only thing that lets a connection reach an IP literal, or a name whose address lies in a
 *   range refused by default (loopback, private, link-local, multicast, the daemon's own).
 * No port part = every port.
 */
export interface PortRange {
  lo: number;
  hi: number;
}

export interface HostRule {
  kind: 'host';
  text: string;
  /** Lower case, no trailing dot; for a wildcard, the suffix without "*.". */
  host: string;
  wildcard: boolean;
  ports?: PortRange[];
}

export interface IpRule {
  kind: 'ip';
  text: string;
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  net: BlockList;
  ports?: PortRange[];
}

export type Rule = HostRule | IpRule;

/** Allow and deny rules of one layer (the config's, or a sandbox's own). */
export interface RuleSet {
  allow: Rule[];
  deny: Rule[];
}

/** The same, as text (config, API). */
export interface RuleText {
  allow?: string[];
  deny?: string[];
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
export const MAX_RULES = 512;

function bad(text: string, why: string): AgentdError {
  return new AgentdError('INVALID_ARGUMENT', `network rule '${text}': ${why}`, { details: { rule: text } });
}

function parsePorts(text: string, spec: string): PortRange[] {
  return spec.split(',').map((part) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw bad(text, `'${part}' is not a port or a port range (e.g. 443, 80,443 or 8000-8100)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) throw bad(text, `port range ${part} must lie within 1-65535`);
    return { lo, hi };
  });
}

/** A host name as the proxy compares it: lower case, no trailing dot; undefined when not a valid name. */
export function normalizeHost(host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h.length === 0 || h.length > 253) return undefined;
  return h.split('.').every((l) => LABEL.test(l)) ? h : undefined;
}

function ipRule(text: string, addr: string, prefixText: string | undefined, ports: PortRange[] | undefined): IpRule {
  const fam = isIP(addr);
  if (fam === 0) throw bad(text, `'${addr}' is not an IP address`);
  const family = fam === 4 ? 'ipv4' : 'ipv6';
  const max = fam === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw bad(text, `prefix /${prefixText ?? ''} must be 0-${max}`);
  if (prefix === 0) throw bad(text, 'a rule for every address is not allowed; name the ranges');
  const net = new BlockList();
  net.addSubnet(addr, prefix, family);
  return { kind: 'ip', text, address: addr, prefix, family, net, ...(ports ? { ports } : {}) };
}

export function parseRule(text: string): Rule {
  const t = text.trim();
  if (t.length === 0 || t.length > 300) throw bad(text, 'must be 1-300 characters');
  // [v6](/prefix)?(:ports)?
  let m = /^\[([0-9a-fA-F:.]+)\](?:\/(\d+))?(?::([\d,-]+))?$/.exec(t);
  if (m) return ipRule(text, m[1] ?? '', m[2], m[3] === undefined ? undefined : parsePorts(text, m[3]));
  // bare v6 (no port): two colons or more
  if ((t.match(/:/g) ?? []).length >= 2) {
    m = /^([0-9a-fA-F:.]+)(?:\/(\d+))?$/.exec(t);
    if (!m) throw bad(text, 'an IPv6 rule with ports is written [addr]:ports or [addr]/prefix:ports');
    return ipRule(text, m[1] ?? '', m[2], undefined);
  }
  m = /^([^:/]+)(?:\/(\d+))?(?::([\d,-]+))?$/.exec(t);
  if (!m) throw bad(text, 'expected host[:ports], *.domain[:ports] or an IP range like 10.0.0.0/8[:ports]');
  const [, hostPart = '', prefix, portText] = m;
  const ports = portText === undefined ? undefined : parsePorts(text, portText);
  if (isIP(hostPart) === 4) return ipRule(text, hostPart, prefix, ports);
  if (prefix !== undefined) throw bad(text, 'a /prefix needs an IP address');
  if (/^\d+(\.\d+)*$/.test(hostPart)) throw bad(text, `'${hostPart}' is neither an IPv4 address nor a host name`);
  const wildcard = hostPart.startsWith('*.');
  const host = normalizeHost(wildcard ? hostPart.slice(2) : hostPart);
  if (host === undefined) throw bad(text, `'${hostPart}' is not a host name (labels of letters, digits, '-' or '_'; a wildcard only as a leading '*.')`);
  if (wildcard && !host.includes('.')) throw bad(text, `'*.${host}' would cover a whole top-level domain`);
  return { kind: 'host', text, host, wildcard, ...(ports ? { ports } : {}) };
}

/** Rule lists already parsed, by the list's identity (config and sandbox views hand out the same arrays until they change). */
const parsed = new WeakMap<readonly string[], Rule[]>();

export function parseRules(texts: readonly string[] | undefined): Rule[] {
  if (texts === undefined) return [];
  const hit = parsed.get(texts);
  if (hit !== undefined && hit.length === texts.length && hit.every((r, i) => r.text === texts[i])) return hit;
  if (texts.length > MAX_RULES) throw new AgentdError('INVALID_ARGUMENT', `at most ${MAX_RULES} network rules per list`, { details: { count: texts.length } });
  const rules = texts.map(parseRule);
  parsed.set(texts, rules);
  return rules;
}

export function parseRuleSet(r: RuleText | undefined): RuleSet {
  return { allow: parseRules(r?.allow), deny: parseRules(r?.deny) };
}

function portOk(ports: PortRange[] | undefined, port: number): boolean {
  return ports === undefined || ports.some((p) => port >= p.lo && port <= p.hi);
}

/** A host rule matching `host` (normalized) and `port`. */
export function hostMatches(rule: Rule, host: string, port: number): boolean {
  if (rule.kind !== 'host' || !portOk(rule.ports, port)) return false;
  return rule.wildcard ? host.endsWith(`.${rule.host}`) : host === rule.host;
}

/** An IP rule covering `address` and `port`. */
export function ipMatches(rule: Rule, address: string, port: number): boolean {
  if (rule.kind !== 'ip' || !portOk(rule.ports, port)) return false;
  const fam = isIP(address);
  if (fam === 0) return false;
  return rule.net.check(address, fam === 4 ? 'ipv4' : 'ipv6');
}

function portsWithin(inner: PortRange[] | undefined, outer: PortRange[] | undefined): boolean {
  if (outer === undefined) return true;
  if (inner === undefined) return false;
  return inner.every((i) => outer.some((o) => i.lo >= o.lo && i.hi <= o.hi));
}

/** True when every connection `inner` allows is allowed by `outer` too. */
export function ruleCovers(outer: Rule, inner: Rule): boolean {
  if (!portsWithin(inner.ports, outer.ports)) return false;
  if (outer.kind === 'ip' && inner.kind === 'ip') return outer.family === inner.family && inner.prefix >= outer.prefix && outer.net.check(inner.address, inner.family);
  if (outer.kind !== 'host' || inner.kind !== 'host') return false;
  if (!outer.wildcard) return !inner.wildcard && inner.host === outer.host;
  return inner.host.endsWith(`.${outer.host}`) || (inner.wildcard && inner.host === outer.host);
}

/** The request's allow rules that no rule of `granted` covers (a request may only narrow). */
export function uncovered(granted: readonly Rule[], asked: readonly Rule[]): Rule[] {
  return asked.filter((a) => !granted.some((g) => ruleCovers(g, a)));
}
