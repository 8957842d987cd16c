/**
 * The image store over REST (docs/images.md, docs/api.md "Images"). Reading (list, inspect)
 * needs any authenticated caller; build, import and removal need the admin role: a build
 * runs Debian package scripts as root on the host (in mmdebstrap's chroot), an import writes
 * a root file system with its owners, and every image is shared by the daemon's tenants.
 * A build streams its progress as NDJSON lines (`{"type":"progress","line":...}`, then
 * `{"type":"done","image":{...}}` or `{"type":"error","error":{...}}`) instead of a silent
 * request of minutes.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { requireRole } from '../../../auth/tenancy.js';
import { ROLE_ADMIN } from '../../../auth/types.js';
import { toAgentdError } from '../../../core/errors.js';
import { buildImage } from '../../../images/build.js';
import { importImage } from '../../../images/import.js';
import { runInJail } from '../../../images/jail.js';
import { IMAGE_NAME } from '../../../images/store.js';
import { route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

const ImageName = z.string().regex(IMAGE_NAME, "1-128 letters, digits, '_', '.', ':', '-'");

const ImageShape = z.object({
  name: z.string().optional(),
  digest: z.string(),
  created_at: z.string(),
  size_bytes: z.number(),
  file_count: z.number(),
  dir_count: z.number(),
  source: z.record(z.string(), z.unknown()),
  config: z.record(z.string(), z.unknown()),
  seconds: z.number().optional(),
});

const BuildBody = z
  .object({
    name: ImageName.describe('The image name (a ref; building again moves it to the new digest).'),
    packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]{0,127}$/)).max(512).default([]).describe('Debian packages to include.'),
    suite: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/).optional().describe("Debian suite (default: the host apt source's)."),
  })
  .strict();

const ImportQuery = z
  .object({
    name: ImageName.describe('The image name.'),
    format: z.enum(['rootfs', 'oci']).default('rootfs').describe('rootfs: the body is a root file system tarball (.tar or .tar.gz); oci: the body is a tarball of an OCI image layout directory.'),
  })
  .strict();

const NameParams = z.object({ name: ImageName }).strict();

export function imageRoutes(svc: HttpServices): RouteSpec[] {
  const gate = svc.pipeline.gate;
  const m = svc.sandboxes;
  return [
    route({
      method: 'GET', url: '/v1/images', operationId: 'listImages', summary: 'List stored images.', tag: 'images', auth: true,
      responses: { 200: { description: 'Images', schema: z.object({ images: z.array(ImageShape) }) } },
      handler: ({ principal }) => gate.run(principal, { name: 'images.list', run: async () => ({ images: await m.images().list() }) }),
    }),
    route({
      method: 'GET', url: '/v1/images/:name', operationId: 'getImage', summary: "An image's metadata.", tag: 'images', auth: true,
      responses: { 200: { description: 'The image', schema: ImageShape } },
      handler: ({ principal, params }) => gate.run(principal, { name: 'images.inspect', input: params, schema: NameParams, run: (p) => m.images().inspect(p.name) }),
    }),
    route({
      method: 'DELETE', url: '/v1/images/:name', operationId: 'deleteImage', summary: 'Remove an image name (admin); refused while a sandbox uses it.', tag: 'images', auth: true,
      responses: { 200: { description: 'Removed', schema: z.object({ name: z.string(), digest: z.string(), blob_removed: z.boolean() }) } },
      handler: ({ principal, params }) => gate.run(principal, {
        name: 'images.remove', input: params, schema: NameParams, run: async (p) => {
          requireRole(principal, ROLE_ADMIN, 'removing images');
          const out = await m.images().remove(p.name, (digest) => m.sandboxesUsingImage(digest));
          return { name: out.name, digest: out.digest, blob_removed: out.blobRemoved };
        },
      }),
    }),
    route<unknown, z.infer<typeof BuildBody>>({
      method: 'POST', url: '/v1/images/build', operationId: 'buildImage', summary: 'Build a Debian image with mmdebstrap (admin); progress streamed as NDJSON.', tag: 'images', auth: true,
      body: BuildBody,
      responses: { 200: { description: 'NDJSON lines: progress..., then done (with the image) or error', contentType: 'application/x-ndjson' } },
      handler: async ({ principal, body, signal, reply }) => {
        const out = new PassThrough();
        let started = false;
        const line = (v: Record<string, unknown>): void => {
          if (!started) {
            started = true;
            void reply.code(200).header('content-type', 'application/x-ndjson').header('cache-control', 'no-store').send(out);
          }
          out.write(`${JSON.stringify(v)}\n`);
        };
        try {
          const image = await gate.run(principal, {
            name: 'images.build', input: body, schema: BuildBody, run: (b) => {
              requireRole(principal, ROLE_ADMIN, 'building images (package scripts run as root)');
              return buildImage(m.images(), { name: b.name, packages: b.packages, ...(b.suite === undefined ? {} : { suite: b.suite }) }, (l) => line({ type: 'progress', line: l }), signal);
            },
          });
          line({ type: 'done', image });
        } catch (err) {
          if (!started) throw err;
          const e = toAgentdError(err);
          line({ type: 'error', error: { code: e.code, message: e.message, details: e.details } });
        }
        out.end();
        return reply;
      },
    }),
    route<z.infer<typeof ImportQuery>>({
      method: 'POST', url: '/v1/images/import', operationId: 'importImage', summary: 'Import a root file system tarball or a tarball of an OCI layout (admin; raw body).', tag: 'images', auth: true,
      query: ImportQuery, rawBody: true,
      responses: { 201: { description: 'The image', schema: ImageShape } },
      handler: async ({ principal, query, raw, signal, reply }) => {
        const image = await gate.run(principal, {
          name: 'images.import', input: query, schema: ImportQuery, run: async (q) => {
            requireRole(principal, ROLE_ADMIN, 'importing images');
            const store = m.images();
            const work = await store.staging();
            try {
              const file = join(work, `upload-${randomBytes(4).toString('hex')}`);
              await writeFile(file, raw ?? Buffer.alloc(0), { mode: 0o600 });
              if (q.format === 'rootfs') return await importImage(store, q.name, file, undefined, signal);
              // The layout is unpacked in the jail too (its members cannot land outside it).
              const dir = join(work, 'rootfs');
              const { mkdir } = await import('node:fs/promises');
              await mkdir(dir, { mode: 0o700 });
              await runInJail({ target: dir, inputs: [file], script: 'set -e; tar -xf /input/0 --no-same-owner', ...(signal ? { signal } : {}) });
              return await importImage(store, q.name, dir, undefined, signal);
            } finally {
              await store.discard(work);
            }
          },
        });
        void reply.code(201);
        return image;
      },
    }),
  ];
}
