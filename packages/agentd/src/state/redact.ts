/**
 * Redaction of audit details. The audit log records who did what, where, with which result,
 * never the secrets or the data. Rules, applied at every depth (key names compared
 * case-insensitively, `-` and `_` alike):
 * - credential keys (authorization, cookie, password, token, secret, api keys, signatures):
 *   the value is replaced by "[redacted]";
 * - `env` / `environment`: the variable names stay, every value becomes "[redacted]";
 * - data keys (stdin, content, contents, data, body, old_string, new_string, stdout, stderr):
 *   the value is replaced by "[redacted N chars]" (or bytes), so the size stays visible;
 * - any string that looks like an agentd API key (`agd_...`) or a bearer token is redacted
 *   wherever it appears;
 * - other strings are cut at 1024 characters; nesting deeper than 8 levels is cut.
 */
const CREDENTIAL_KEYS = new Set([
  'authorization', 'proxy_authorization', 'cookie', 'set_cookie', 'password', 'passwd', 'secret', 'token',
  'access_token', 'refresh_token', 'id_token', 'api_key', 'apikey', 'x_api_key', 'private_key', 'client_secret',
  'x_agentd_signature', 'signature', 'key_secret',
]);
const ENV_KEYS = new Set(['env', 'environment']);
const DATA_KEYS = new Set(['stdin', 'content', 'contents', 'data', 'body', 'old_string', 'new_string', 'stdout', 'stderr']);
const MAX_STRING = 1024;
const MAX_DEPTH = 8;
const SECRET_STRING = /(^|\s)(agd_[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}|Bearer\s+\S+)/i;

export const REDACTED = '[redacted]';

function normKey(key: string): string {
  return key.toLowerCase().replaceAll('-', '_');
}

function sizeOf(value: unknown): string {
  if (typeof value === 'string') return `${value.length} chars`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (value === null || value === undefined) return '0 chars';
  return `${JSON.stringify(value)?.length ?? 0} chars`;
}

/** A redacted deep copy of `value` (see the rules above). Never mutates its input. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return '[truncated]';
  if (typeof value === 'string') {
    if (SECRET_STRING.test(value)) return REDACTED;
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}...[${value.length - MAX_STRING} more chars]` : value;
  }
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      const k = normKey(key);
      if (CREDENTIAL_KEYS.has(k)) out[key] = REDACTED;
      else if (DATA_KEYS.has(k)) out[key] = inner === undefined ? undefined : `[redacted ${sizeOf(inner)}]`;
      else if (ENV_KEYS.has(k) && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
        out[key] = Object.fromEntries(Object.keys(inner).map((name) => [name, REDACTED]));
      } else if (ENV_KEYS.has(k)) out[key] = REDACTED;
      else out[key] = redact(inner, depth + 1);
    }
    return out;
  }
  return value;
}

export function redactDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (details === undefined) return {};
  return redact(details) as Record<string, unknown>;
}
