/** The manifest.json written next to a snapshot's copied folders. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

export const SNAPSHOT_PARTS = ['workspace', 'home', 'tmp'] as const;
export type SnapshotPart = (typeof SNAPSHOT_PARTS)[number];

export const MANIFEST_FILE = 'manifest.json';

export const SnapshotManifestSchema = z
  .object({
    format: z.literal(1).describe('Manifest format version; bumped only on an incompatible change.'),
    snapshot_id: z.string().min(1).describe('The snapshot id (also the folder name under the snapshots root).'),
    sandbox_id: z.string().min(1).describe('The sandbox whose writable state was copied.'),
    created_at: z.iso.datetime().describe('When the copy finished (UTC, ISO 8601).'),
    parts: z.array(z.enum(SNAPSHOT_PARTS)).describe('The sandbox folders held, each as a sub-folder of the same name.'),
    size_bytes: z.number().int().nonnegative().describe('Apparent size of all regular files (reflinked copies may share disk blocks).'),
    file_count: z.number().int().nonnegative().describe('Entries that are not directories (files, symlinks, fifos...).'),
    dir_count: z.number().int().nonnegative().describe('Directories, not counting the part folders themselves.'),
    layer: z
      .object({ agent_uid: z.number().int().positive(), root_uid: z.number().int().positive() })
      .strict()
      .optional()
      .describe("A sandbox with an image: its writable layer is held in `layer/`, owned by these host uids (agent, root inside); a fork gives them to its own (layer.ts)."),
  })
  .strict();

export type SnapshotManifest = z.infer<typeof SnapshotManifestSchema>;

/** Reads and validates `<snapshotDir>/manifest.json`; NOT_FOUND when it is not a snapshot. */
export async function readManifest(snapshotDir: string): Promise<SnapshotManifest> {
  const file = join(snapshotDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new AgentdError('NOT_FOUND', `no snapshot at ${snapshotDir} (cannot read ${MANIFEST_FILE}: ${(err as Error).message})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AgentdError('INTERNAL', `${file} is not valid JSON`, { cause: err });
  }
  const parsed = SnapshotManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new AgentdError('INTERNAL', `${file} is not a valid snapshot manifest: ${issues}`);
  }
  return parsed.data;
}
