import { z } from 'zod';
import { AgentdError } from '../../../core/errors.js';
import type { SandboxSpec } from '../../../isolation/types.js';
import { route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { runVerify } from '../../../network/verify.js';

/** A sandbox's egress rules as the API shows and takes them (docs/network.md). */
const Rules = z
  .object({
    allow: z.array(z.string().min(1).max(300)).max(512).nullable().optional().describe("This sandbox's allow rules; each must lie within the config's (else POLICY_DENIED). null or absent: the config's list."),
    deny: z.array(z.string().min(1).max(300)).max(512).optional().describe('Deny rules over the config\'s (deny wins). Absent: none.'),
  })
  .strict();

const NetworkView = z.object({
  sandbox_id: z.string(),
  network: z.enum(['none', 'allowlist', 'host']),
  proxy: z.string().nullable().describe('The proxy URL inside the sandbox (allowlist), else null.'),
  rules: z.object({ allow: z.array(z.string()).nullable(), deny: z.array(z.string()) }).describe("The sandbox's own rules (allow null: the config's list)."),
  config: z.object({ allow: z.array(z.string()), deny: z.array(z.string()) }).describe("The config's rules for this sandbox's profile and tenant."),
});

const VerifyShape = z.object({
  sandbox_id: z.string(),
  network: z.string(),
  held: z.boolean().describe('Every probe held.'),
  probes: z.array(z.object({ name: z.string(), result: z.enum(['held', 'broken', 'error']), detail: z.string() })),
});

function needNetwork(svc: HttpServices): NonNullable<HttpServices['network']> {
  if (!svc.network) throw new AgentdError('UNAVAILABLE', 'this daemon runs without its network service');
  return svc.network;
}

export function networkRoutes(svc: HttpServices): RouteSpec[] {
  const gate = svc.pipeline.gate;
  const view = (tenant: string, id: string): z.infer<typeof NetworkView> => {
    const net = needNetwork(svc);
    const rec = svc.sandboxes.get(tenant, id);
    const spec = (rec.spec ?? {}) as Partial<SandboxSpec>;
    const layer = net.configLayer(rec.profile, rec.tenant);
    const mode = spec.network ?? 'none';
    return {
      sandbox_id: rec.id,
      network: mode,
      proxy: mode === 'allowlist' ? `http://127.0.0.1:${net.proxyPort()}` : null,
      rules: { allow: spec.egress?.allow ?? null, deny: spec.egress?.deny ?? [] },
      config: { allow: (layer.allow ?? []).map((r) => r.text), deny: layer.deny.map((r) => r.text) },
    };
  };
  return [
    route({
      method: 'GET', url: '/v1/sandboxes/:id/network', operationId: 'getSandboxNetwork', summary: "A sandbox's network mode and egress rules.", tag: 'network', auth: true,
      responses: { 200: { description: 'Network', schema: NetworkView } },
      handler: ({ principal, params }) => gate.run(principal, { name: 'sandbox.network.get', sandboxId: params.id ?? '', run: () => view(principal.tenant, params.id ?? '') }),
    }),
    route<unknown, z.infer<typeof Rules>>({
      method: 'PUT', url: '/v1/sandboxes/:id/network/rules', operationId: 'setSandboxNetworkRules', summary: "Replace a sandbox's own egress rules (running or not); new connections follow them at once.", tag: 'network', auth: true,
      body: Rules, responses: { 200: { description: 'Network', schema: NetworkView } },
      handler: ({ principal, params, body }) => gate.run(principal, { name: 'sandbox.network.rules', sandboxId: params.id ?? '', input: body, schema: Rules, run: (req) => {
        const net = needNetwork(svc);
        const rec = svc.sandboxes.get(principal.tenant, params.id ?? '');
        const spec = rec.spec as SandboxSpec | null;
        if (!spec) throw new AgentdError('CONFLICT', `sandbox '${rec.id}' has no spec`);
        if (spec.network !== 'allowlist') {
          throw new AgentdError('CONFLICT', `sandbox '${rec.id}' has network '${spec.network}': egress rules apply to network 'allowlist' only (the mode is fixed at create)`, { details: { sandbox_id: rec.id, network: spec.network } });
        }
        const egress = { ...(req.allow ? { allow: req.allow } : {}), ...(req.deny ? { deny: req.deny } : {}) };
        net.checkSandboxRules(rec.profile, rec.tenant, egress);
        const { egress: _old, ...rest } = spec;
        void _old;
        svc.store.sandboxes.update(rec.id, { spec: { ...rest, ...(req.allow || req.deny ? { egress } : {}) } });
        return view(principal.tenant, rec.id);
      } }),
    }),
    route({
      method: 'POST', url: '/v1/sandboxes/:id/network/verify', operationId: 'verifySandboxNetwork', summary: 'Run the fixed bypass probes inside a running sandbox; each is reported held or broken.', tag: 'network', auth: true,
      responses: { 200: { description: 'Report', schema: VerifyShape } },
      handler: ({ principal, params }) => gate.run(principal, { name: 'sandbox.network.verify', sandboxId: params.id ?? '', run: async () => {
        const net = needNetwork(svc);
        const handle = svc.sandboxes.handleOf(principal.tenant, params.id ?? '');
        const s = net.settings();
        return runVerify(handle, net, { targets: s.verify, daemonPorts: net.endpoints.ports, daemonSockets: net.endpoints.sockets });
      } }),
    }),
  ];
}
