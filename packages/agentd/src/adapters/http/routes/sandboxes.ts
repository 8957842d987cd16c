import { z } from 'zod';
import { isAdmin } from '../../../auth/tenancy.js';
import { SandboxCreate } from '../../../sandbox/spec.js';
import { isLocalCaller } from '../../../sandbox/host-path-grant.js';
import { QueryBool, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { SandboxShape, SnapshotShape } from '../shapes.js';
import { sandboxView, snapshotView } from '../views.js';

const ListQuery = z
  .object({
    state: z.enum(['creating', 'running', 'suspended', 'stopped', 'destroying', 'destroyed', 'dead']).optional().describe('Only sandboxes in this state.'),
    backend: z.string().min(1).max(64).optional().describe('Only sandboxes of this backend (canonical name).'),
    label: z.union([z.string(), z.array(z.string())]).optional().describe('`k=v`; repeat for several (all must match).'),
  })
  .strict();

function labelFilter(label: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of label === undefined ? [] : [label].flat()) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

const DeleteQuery = z.object({ keep_files: QueryBool.optional().describe('Keep the files on disk (state becomes destroyed).') }).strict();
const SnapshotBody = z.object({ name: z.string().min(1).max(128).optional().describe('A name for the snapshot.') }).strict();
const RestoreBody = z.object({ snapshot_id: z.string().min(1).max(128).describe('Snapshot to restore.') }).strict();
const ForkBody = z.object({ snapshot_id: z.string().min(1).max(128).optional().describe('Snapshot to fork from (none: snapshot now).') }).strict();
const Sandbox = { description: 'The sandbox', schema: SandboxShape };

export function sandboxRoutes(svc: HttpServices): RouteSpec[] {
  const m = svc.sandboxes;
  // Every route here passes the one gate (pipeline/gate.ts): policy decision and audit.
  const gate = svc.pipeline.gate;
  return [
    route<unknown, SandboxCreate>({
      method: 'POST', url: '/v1/sandboxes', operationId: 'createSandbox', summary: "Create a sandbox ({} = the profile's defaults).", tag: 'sandboxes', auth: true,
      body: SandboxCreate, responses: { 201: { description: 'Created', schema: SandboxShape } },
      handler: async ({ principal, body, signal, reply }) => {
        const { record } = await gate.run(principal, {
          name: 'sandbox.create', input: body, schema: SandboxCreate,
          sandboxPrefs: { ...(body.profile === undefined ? {} : { profile: body.profile }), ...(body.backend === undefined ? {} : { backend: body.backend }) },
          run: async (req) => {
            const out = await m.create(principal.tenant, req, signal, { admin: isAdmin(principal), local: isLocalCaller(principal) });
            return { ...out, id: out.record.id };
          },
        });
        void reply.code(201);
        return sandboxView(record);
      },
    }),
    route<z.infer<typeof ListQuery>>({
      method: 'GET', url: '/v1/sandboxes', operationId: 'listSandboxes', summary: 'List your sandboxes.', tag: 'sandboxes', auth: true,
      query: ListQuery, responses: { 200: { description: 'Sandboxes', schema: z.object({ sandboxes: z.array(SandboxShape) }) } },
      handler: ({ principal, query }) => gate.run(principal, { name: 'sandbox.list', input: query, run: () => {
        const list = m.list({
          tenant: principal.tenant,
          ...(query.state ? { states: [query.state] } : {}),
          ...(query.backend ? { backend: query.backend } : {}),
          labels: labelFilter(query.label),
        });
        return { sandboxes: list.map((r) => sandboxView(r)) };
      } }),
    }),
    route({
      method: 'GET', url: '/v1/sandboxes/:id', operationId: 'getSandbox', summary: 'One sandbox, with live usage when running.', tag: 'sandboxes', auth: true,
      responses: { 200: Sandbox },
      handler: ({ principal, params }) => gate.run(principal, { name: 'sandbox.get', sandboxId: params.id ?? '', run: async () => {
        const rec = m.get(principal.tenant, params.id ?? '');
        return sandboxView(rec, rec.state === 'running' ? await m.usage(rec.id) : undefined);
      } }),
    }),
    route<z.infer<typeof DeleteQuery>>({
      method: 'DELETE', url: '/v1/sandboxes/:id', operationId: 'deleteSandbox', summary: 'Destroy a sandbox.', tag: 'sandboxes', auth: true,
      query: DeleteQuery, responses: { 204: { description: 'Destroyed' } },
      handler: async ({ principal, params, query, reply }) => {
        await gate.run(principal, { name: 'sandbox.delete', sandboxId: params.id ?? '', input: query, run: () => m.destroy(principal.tenant, params.id ?? '', { keepFiles: query.keep_files ?? false }) });
        void reply.code(204);
        return undefined;
      },
    }),
    ...(['start', 'suspend', 'resume'] as const).map((action) =>
      route({
        method: 'POST', url: `/v1/sandboxes/:id/${action}`, operationId: `${action}Sandbox`, tag: 'sandboxes', auth: true,
        summary: action === 'start' ? 'Start a stopped sandbox again on its files.' : action === 'suspend' ? 'Freeze every process of the sandbox.' : 'Thaw a suspended sandbox.',
        responses: { 200: Sandbox },
        handler: async ({ principal, params, signal }) => {
          const id = params.id ?? '';
          const rec = await gate.run(principal, {
            name: `sandbox.${action}`, sandboxId: id,
            run: () => action === 'start' ? m.start(principal.tenant, id, signal, { admin: isAdmin(principal) }) : action === 'suspend' ? m.suspend(principal.tenant, id) : m.resume(principal.tenant, id),
          });
          return sandboxView(rec);
        },
      }),
    ),
    route<unknown, z.infer<typeof SnapshotBody>>({
      method: 'POST', url: '/v1/sandboxes/:id/snapshot', operationId: 'snapshotSandbox', summary: "Snapshot the sandbox's files.", tag: 'snapshots', auth: true,
      body: SnapshotBody, responses: { 201: { description: 'Snapshot taken', schema: SnapshotShape } },
      handler: async ({ principal, params, body, signal, reply }) => {
        const id = params.id ?? '';
        const snap = await gate.run(principal, { name: 'sandbox.snapshot', sandboxId: id, input: body, schema: SnapshotBody, run: (b) => m.snapshot(principal.tenant, id, b.name, signal) });
        void reply.code(201);
        return snapshotView(snap);
      },
    }),
    route<unknown, z.infer<typeof RestoreBody>>({
      method: 'POST', url: '/v1/sandboxes/:id/restore', operationId: 'restoreSandbox', summary: 'Put a snapshot back into the sandbox.', tag: 'snapshots', auth: true,
      body: RestoreBody, responses: { 200: Sandbox },
      handler: async ({ principal, params, body, signal }) => {
        const id = params.id ?? '';
        return sandboxView(await gate.run(principal, { name: 'sandbox.restore', sandboxId: id, input: body, schema: RestoreBody, run: (b) => m.restore(principal.tenant, id, b.snapshot_id, signal) }));
      },
    }),
    route<unknown, z.infer<typeof ForkBody>>({
      method: 'POST', url: '/v1/sandboxes/:id/fork', operationId: 'forkSandbox', summary: 'A new sandbox from a snapshot of this one.', tag: 'snapshots', auth: true,
      body: ForkBody, responses: { 201: { description: 'The new sandbox', schema: SandboxShape } },
      handler: async ({ principal, params, body, signal, reply }) => {
        const id = params.id ?? '';
        const rec = await gate.run(principal, {
          name: 'sandbox.fork', sandboxId: id, input: body, schema: ForkBody, run: (b) => m.fork(principal.tenant, id, b.snapshot_id, signal, { admin: isAdmin(principal), local: isLocalCaller(principal) }),
        });
        void reply.code(201);
        return sandboxView(rec);
      },
    }),
    route({
      method: 'GET', url: '/v1/snapshots', operationId: 'listSnapshots', summary: 'List your snapshots.', tag: 'snapshots', auth: true,
      responses: { 200: { description: 'Snapshots', schema: z.object({ snapshots: z.array(SnapshotShape) }) } },
      handler: ({ principal }) => gate.run(principal, { name: 'snapshot.list', run: () => ({ snapshots: m.listSnapshots(principal.tenant).map(snapshotView) }) }),
    }),
    route({
      method: 'DELETE', url: '/v1/snapshots/:id', operationId: 'deleteSnapshot', summary: 'Delete a snapshot.', tag: 'snapshots', auth: true,
      responses: { 204: { description: 'Deleted' } },
      handler: async ({ principal, params, reply }) => {
        await gate.run(principal, { name: 'snapshot.delete', target: { snapshot_id: params.id ?? '' }, run: () => m.deleteSnapshot(principal.tenant, params.id ?? '') });
        void reply.code(204);
        return undefined;
      },
    }),
  ];
}
