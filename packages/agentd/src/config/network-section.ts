import { isIP } from 'node:net';
import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import { parseRule } from '../network/rules.js';

/** One egress rule, checked as the proxy will read it (network/rules.ts). */
const rule = z.string().superRefine((r, ctx) => {
  try {
    parseRule(r);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof AgentdError ? err.message : String(err) });
  }
});

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/;

const ruleList = (what: string) => z.array(rule).max(512).describe(what);

const RuleSet = z
  .object({
    allow: ruleList('Extra allow rules. undefined or []: none added.').optional(),
    deny: ruleList('Extra deny rules (deny wins). undefined or []: none added.').optional(),
  })
  .strict();

export const NetworkSection = z
  .object({
    proxy_port: z.number().int().min(1).max(65535).describe("The loopback port inside an 'allowlist' sandbox where agentd-init relays HTTP CONNECT, plain HTTP and SOCKS5 to the daemon's egress proxy (HTTP_PROXY and friends point there). Default 3128."),
    allow: ruleList(
      "Hosts every 'allowlist' sandbox may reach: 'pypi.org', '*.npmjs.org' (names below it), 'host:443' or 'host:80,443' or 'host:8000-8100', IP ranges '10.0.0.0/8:5432', '[fd00::1]:80'. [] (the default): nothing. A name resolving to loopback, private, link-local (169.254.169.254), multicast or the daemon's own addresses is refused unless an IP rule here names that range; an IP literal is refused unless an IP rule allows it.",
    ),
    deny: ruleList('Hosts and ranges no sandbox may reach, whatever allows them (deny wins). []: none.'),
    profiles: z.partialRecord(z.enum(['workstation', 'server', 'paranoid', 'custom']), RuleSet).describe('Rules added for sandboxes of one profile: { server = { allow = [...], deny = [...] } }. {}: none.'),
    tenants: z.record(z.string().min(1).max(128), RuleSet).describe("Rules added for one tenant's sandboxes: { acme = { allow = [...] } }. {}: none."),
    hosts: z
      .record(z.string().min(1).max(253), z.array(z.string().refine((a) => isIP(a) !== 0, 'must be an IP address')).min(1).max(16))
      .describe("The egress proxy's own name overrides, looked up before DNS (tests map names to local servers). {}: none."),
    dns: z.enum(['system', 'hosts-only']).describe("How the egress proxy resolves a name not in network.hosts: 'system' (the daemon host's resolver, the default) or 'hosts-only' (refused)."),
    verify: z
      .object({
        tcp: z.string().regex(HOST_PORT, 'ip:port').describe('Direct TCP probe target (an IP address outside). Default 192.0.2.1:80 (TEST-NET-1: from an isolated sandbox nothing leaves; the connect fails at once).'),
        tcp6: z.string().regex(HOST_PORT, '[ip6]:port').describe('Direct IPv6 probe target. Default [2001:db8::1]:80.'),
        dns: z.string().regex(HOST_PORT, 'ip:port').describe('UDP DNS probe target (an outside resolver). Default 192.0.2.53:53.'),
        metadata: z.string().regex(HOST_PORT, 'ip:port').describe('The cloud metadata endpoint probed directly and through the proxy. Default 169.254.169.254:80.'),
        doh_host: z.string().min(1).max(253).describe('A name not in the allowlist asked through the proxy (DNS over HTTPS). Default dns.google (refused before any lookup).'),
        sockets: z.array(z.string().min(1).max(107)).max(16).describe("Unix socket paths probed besides the daemon's own. []: only the daemon's."),
      })
      .strict()
      .describe('Targets of `agentd network verify` (tests point them at local servers).'),
    connect_timeout_ms: z.number().int().min(100).max(120_000).describe('How long the egress proxy waits for a name lookup or an upstream connection. Default 10000.'),
  })
  .strict()
  .describe("Egress of 'allowlist' sandboxes through the daemon's proxy, and the rules it enforces (docs/network.md).");

export type NetworkSection = z.infer<typeof NetworkSection>;

/** Every profile's defaults: nothing allowed, the system resolver. */
export const NETWORK_DEFAULTS: NetworkSection = { proxy_port: 3128, allow: [], deny: [], profiles: {}, tenants: {}, hosts: {}, dns: 'system', connect_timeout_ms: 10_000,
  verify: { tcp: '192.0.2.1:80', tcp6: '[2001:db8::1]:80', dns: '192.0.2.53:53', metadata: '169.254.169.254:80', doh_host: 'dns.google', sockets: [] },
};
