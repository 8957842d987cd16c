/**
 * The server name (SNI) of a TLS ClientHello, read from the first bytes a client sends
 * through a CONNECT tunnel (RFC 8446 4.1.2, RFC 6066 3). Only what is needed to find the
 * name; anything malformed is "not a ClientHello".
 */
export type ClientHelloScan =
  | { kind: 'need-more' }
  | { kind: 'not-tls' }
  | { kind: 'malformed'; why: string }
  | { kind: 'hello'; sni: string | undefined };

/** Largest ClientHello (record payload) waited for. */
export const MAX_HELLO_BYTES = 16 * 1024;

export function scanClientHello(buf: Buffer): ClientHelloScan {
  if (buf.length < 1) return { kind: 'need-more' };
  if (buf[0] !== 0x16) return { kind: 'not-tls' };
  if (buf.length < 5) return { kind: 'need-more' };
  if (buf[1] !== 0x03) return { kind: 'malformed', why: 'record version' };
  const recLen = buf.readUInt16BE(3);
  if (recLen > MAX_HELLO_BYTES + 2048) return { kind: 'malformed', why: 'record too large' };
  if (buf.length < 5 + recLen) return { kind: 'need-more' };
  const rec = buf.subarray(5, 5 + recLen);
  if (rec.length < 4 || rec[0] !== 0x01) return { kind: 'malformed', why: 'not a ClientHello' };
  const hsLen = rec.readUIntBE(1, 3);
  // A ClientHello split over several records is not supported: no client sends one that large.
  if (hsLen + 4 > rec.length) return { kind: 'malformed', why: 'ClientHello spans records' };
  const h = rec.subarray(4, 4 + hsLen);
  let p = 2 + 32; // legacy_version, random
  const need = (n: number): boolean => p + n <= h.length;
  if (!need(1)) return { kind: 'malformed', why: 'truncated' };
  p += 1 + (h[p] ?? 0); // session id
  if (!need(2)) return { kind: 'malformed', why: 'truncated' };
  p += 2 + h.readUInt16BE(p); // cipher suites
  if (!need(1)) return { kind: 'malformed', why: 'truncated' };
  p += 1 + (h[p] ?? 0); // compression methods
  if (p === h.length) return { kind: 'hello', sni: undefined }; // no extensions
  if (!need(2)) return { kind: 'malformed', why: 'truncated' };
  const extEnd = p + 2 + h.readUInt16BE(p);
  p += 2;
  if (extEnd > h.length) return { kind: 'malformed', why: 'extensions overrun' };
  let sni: string | undefined;
  let seen = false;
  while (p + 4 <= extEnd) {
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return { kind: 'malformed', why: 'extension overrun' };
    if (type === 0) {
      if (seen) return { kind: 'malformed', why: 'two server_name extensions' };
      seen = true;
      const e = h.subarray(p, p + len);
      if (e.length < 2) return { kind: 'malformed', why: 'server_name' };
      let q = 2;
      const listEnd = 2 + e.readUInt16BE(0);
      if (listEnd > e.length) return { kind: 'malformed', why: 'server_name list' };
      while (q + 3 <= listEnd) {
        const nameType = e[q] ?? 0;
        const nameLen = e.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) return { kind: 'malformed', why: 'server_name entry' };
        if (nameType === 0) {
          if (sni !== undefined) return { kind: 'malformed', why: 'two host names' };
          sni = e.subarray(q, q + nameLen).toString('latin1');
        }
        q += nameLen;
      }
    }
    p += len;
  }
  return { kind: 'hello', sni };
}
