import { z } from 'zod';
import { isAdmin } from '../../../auth/tenancy.js';
import { isLocalCaller } from '../../../sandbox/host-path-grant.js';
import { SessionCreate } from '../../../sandbox/sessions.js';
import { route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { SessionShape } from '../shapes.js';
import { sessionView } from '../views.js';

export function sessionRoutes(svc: HttpServices): RouteSpec[] {
  const s = svc.sessions;
  // Every route here passes the one gate (pipeline/gate.ts): policy decision and audit.
  const gate = svc.pipeline.gate;
  const Session = { description: 'The session', schema: SessionShape };
  return [
    route<unknown, SessionCreate>({
      method: 'POST', url: '/v1/sessions', operationId: 'createSession', summary: 'Open a session on a new or an existing sandbox.', tag: 'sessions', auth: true,
      body: SessionCreate, responses: { 201: { description: 'Created', schema: SessionShape } },
      handler: async ({ principal, body, signal, reply }) => {
        const rec = await gate.run(principal, {
          name: 'session.create', sandboxId: body.sandbox_id ?? null, input: body, schema: SessionCreate,
          sandboxPrefs: { ...(body.sandbox?.profile === undefined ? {} : { profile: body.sandbox.profile }), ...(body.sandbox?.backend === undefined ? {} : { backend: body.sandbox.backend }) },
          run: (req) => s.create(principal.tenant, req, signal, { admin: isAdmin(principal), local: isLocalCaller(principal) }),
        });
        void reply.code(201);
        return sessionView(rec);
      },
    }),
    route({
      method: 'GET', url: '/v1/sessions', operationId: 'listSessions', summary: 'List your sessions.', tag: 'sessions', auth: true,
      responses: { 200: { description: 'Sessions', schema: z.object({ sessions: z.array(SessionShape) }) } },
      handler: ({ principal }) => gate.run(principal, { name: 'session.list', run: () => ({ sessions: s.list(principal.tenant).map(sessionView) }) }),
    }),
    route({
      method: 'GET', url: '/v1/sessions/:id', operationId: 'getSession', summary: 'One session.', tag: 'sessions', auth: true,
      responses: { 200: Session },
      handler: ({ principal, params }) => gate.run(principal, { name: 'session.get', target: { session_id: params.id ?? '' }, run: () => sessionView(s.get(principal.tenant, params.id ?? '')) }),
    }),
    route({
      method: 'POST', url: '/v1/sessions/:id/attach', operationId: 'attachSession', summary: 'Attach (resumes a suspended sandbox).', tag: 'sessions', auth: true,
      responses: { 200: Session },
      handler: async ({ principal, params }) => sessionView(await gate.run(principal, { name: 'session.attach', target: { session_id: params.id ?? '' }, run: () => s.attach(principal.tenant, params.id ?? '') })),
    }),
    route({
      method: 'POST', url: '/v1/sessions/:id/detach', operationId: 'detachSession', summary: 'Detach (the detach timeout starts).', tag: 'sessions', auth: true,
      responses: { 200: Session },
      handler: async ({ principal, params }) => sessionView(await gate.run(principal, { name: 'session.detach', target: { session_id: params.id ?? '' }, run: () => s.detach(principal.tenant, params.id ?? '') })),
    }),
    route({
      method: 'DELETE', url: '/v1/sessions/:id', operationId: 'closeSession', summary: 'Close a session (destroys a sandbox it created).', tag: 'sessions', auth: true,
      responses: { 204: { description: 'Closed' } },
      handler: async ({ principal, params, reply }) => {
        await gate.run(principal, { name: 'session.close', target: { session_id: params.id ?? '' }, run: () => s.close(principal.tenant, params.id ?? '') });
        void reply.code(204);
        return undefined;
      },
    }),
  ];
}
