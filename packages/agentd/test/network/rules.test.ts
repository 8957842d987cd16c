import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { classifyAddress } from '../../src/network/address.js';
import { decide, type RuleLayer } from '../../src/network/policy.js';
import { parseRule, parseRules, ruleCovers, uncovered } from '../../src/network/rules.js';
import { scanClientHello } from '../../src/network/sni.js';
import type { ResolvedAddress, Resolver } from '../../src/network/resolver.js';

const resolver = (map: Record<string, string[]>): Resolver => ({
  resolve: async (h: string): Promise<ResolvedAddress[]> => (map[h] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
});
const layer = (allow: string[] | undefined, deny: string[] = []): RuleLayer => ({ name: 't', ...(allow ? { allow: parseRules(allow) } : {}), deny: parseRules(deny) });
const own = new Set<string>(['203.0.113.7']);

describe('rules', () => {
  it('parses names, wildcards, ports and IP ranges; refuses what would be too wide or malformed', () => {
    expect(parseRule('PyPI.org')).toMatchObject({ kind: 'host', host: 'pypi.org', wildcard: false });
    expect(parseRule('*.npmjs.org:443')).toMatchObject({ kind: 'host', host: 'npmjs.org', wildcard: true, ports: [{ lo: 443, hi: 443 }] });
    expect(parseRule('10.0.0.0/8:5432,8000-8100')).toMatchObject({ kind: 'ip', prefix: 8, ports: [{ lo: 5432, hi: 5432 }, { lo: 8000, hi: 8100 }] });
    expect(parseRule('[::1]:80')).toMatchObject({ kind: 'ip', family: 'ipv6', prefix: 128 });
    for (const bad of ['*', '*.com', 'a..b', 'host:0', 'host:70000', '0.0.0.0/0', 'ex ample.com', '1.2.3', 'a.*.com', 'host:80-10']) {
      expect(() => parseRule(bad), bad).toThrow(/network rule/);
    }
  });

  it('a wildcard covers names below, not the domain itself; coverage decides what a request may ask', () => {
    const w = parseRule('*.example.com');
    expect(ruleCovers(w, parseRule('a.example.com'))).toBe(true);
    expect(ruleCovers(w, parseRule('*.b.example.com:443'))).toBe(true);
    expect(ruleCovers(w, parseRule('example.com'))).toBe(false);
    expect(ruleCovers(parseRule('x.com:443'), parseRule('x.com'))).toBe(false);
    expect(ruleCovers(parseRule('10.0.0.0/8'), parseRule('10.1.0.0/16:22'))).toBe(true);
    expect(uncovered(parseRules(['pypi.org']), parseRules(['pypi.org:443', 'evil.com'])).map((r) => r.text)).toEqual(['evil.com']);
  });
});

describe('decide', () => {
  const r = resolver({ 'ok.test': ['198.51.100.1'], 'lo.test': ['127.0.0.1'], 'meta.test': ['169.254.169.254'], 'mixed.test': ['10.0.0.1', '198.51.100.2'], 'own.test': ['203.0.113.7'], 'mapped.test': ['::ffff:127.0.0.1'] });
  it('deny wins over allow, in any layer', async () => {
    expect((await decide([layer(['*.ok.test', 'ok.test'], ['ok.test'])], 'ok.test', 443, r, own)).code).toBe('deny-rule');
    expect((await decide([layer(['ok.test']), layer(undefined, ['ok.test:443'])], 'ok.test', 443, r, own)).code).toBe('deny-rule');
    expect((await decide([layer(['ok.test'])], 'ok.test', 443, r, own))).toMatchObject({ allowed: true, address: '198.51.100.1', rule: 'ok.test' });
  });
  it('every layer must allow: a sandbox layer only narrows', async () => {
    expect((await decide([layer(['ok.test']), layer(['ok.test:80'])], 'ok.test', 443, r, own)).code).toBe('not-listed');
    expect((await decide([layer([]), layer(['ok.test'])], 'ok.test', 443, r, own)).code).toBe('not-listed');
  });
  it('refuses loopback, metadata, the host\'s own and mapped addresses unless an IP rule names them; skips to an acceptable address', async () => {
    for (const h of ['lo.test', 'meta.test', 'own.test', 'mapped.test']) expect((await decide([layer([h])], h, 80, r, own)).code, h).toBe('special-address');
    expect((await decide([layer(['lo.test', '127.0.0.1/32:80'])], 'lo.test', 80, r, own)).allowed).toBe(true);
    expect((await decide([layer(['mixed.test'])], 'mixed.test', 80, r, own))).toMatchObject({ allowed: true, address: '198.51.100.2' });
  });
  it('IP literals need an IP rule', async () => {
    expect((await decide([layer(['ok.test'])], '198.51.100.1', 80, r, own)).code).toBe('ip-literal');
    expect((await decide([layer(['198.51.100.0/24:80'])], '198.51.100.1', 80, r, own)).allowed).toBe(true);
    expect((await decide([layer(['198.51.100.0/24:80'])], '[::1]', 80, r, own)).code).toBe('ip-literal');
  });
  it('classifies addresses', () => {
    expect(classifyAddress('169.254.169.254')).toBe('link-local');
    expect(classifyAddress('::ffff:10.0.0.1')).toBe('private');
    expect(classifyAddress('fd00::1')).toBe('private');
    expect(classifyAddress('ff02::1')).toBe('multicast');
    expect(classifyAddress('0.0.0.0')).toBe('unspecified');
    expect(classifyAddress('198.51.100.1', new Set())).toBe('public');
  });
});

describe('SNI', () => {
  it("reads the server name of a real ClientHello (Node's TLS), and says need-more on a prefix", async () => {
    const srv = createServer();
    const got = new Promise<Buffer>((resolve) => srv.on('connection', (s) => {
      let b = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        b = Buffer.concat([b, d]);
        if (scanClientHello(b).kind !== 'need-more') {
          resolve(b);
          s.destroy();
        }
      });
    }));
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as AddressInfo).port;
    const t = tlsConnect({ host: '127.0.0.1', port, servername: 'Files.Example.org' });
    t.on('error', () => undefined);
    const hello = await got;
    t.destroy();
    srv.close();
    expect(scanClientHello(hello)).toEqual({ kind: 'hello', sni: 'Files.Example.org' });
    expect(scanClientHello(hello.subarray(0, 20))).toEqual({ kind: 'need-more' });
    expect(scanClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ kind: 'not-tls' });
  });
});
