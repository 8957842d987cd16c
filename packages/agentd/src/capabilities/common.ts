import { z } from 'zod';

/** A path in the sandbox's own view; agentd-init resolves it inside the sandbox. */
export const SandboxPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL byte')
  .describe('Path inside the sandbox (relative paths are resolved from the sandbox workdir by agentd-init).');

export const FileMode = z.number().int().min(0).max(0o7777).describe('Permission bits, e.g. 420 (0644).');

export const Encoding = z.enum(['utf8', 'base64']);

/** Encodes bytes for JSON: utf8 when asked or when the bytes are valid UTF-8 and no encoding was asked; else base64. */
export function encodeBytes(data: Buffer, asked: 'utf8' | 'base64' | undefined): { content: string; encoding: 'utf8' | 'base64' } {
  if (asked === 'base64') return { content: data.toString('base64'), encoding: 'base64' };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    return { content: decoder.decode(data), encoding: 'utf8' };
  } catch {
    return { content: data.toString('base64'), encoding: 'base64' };
  }
}

export function decodeContent(content: string, encoding: 'utf8' | 'base64'): Buffer {
  return encoding === 'base64' ? Buffer.from(content, 'base64') : Buffer.from(content, 'utf8');
}
