import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface Resolver {
  resolve(host: string): Promise<ResolvedAddress[]>;
}

/**
 * The egress proxy's own name resolution: the config's `network.hosts` first (a test maps
 * its names to local servers there), then, unless `network.dns` is "hosts-only", the
 * system resolver. The address the proxy checks is the one it connects to: nothing resolves
 * the name a second time.
 */
export class EgressResolver implements Resolver {
  constructor(private readonly opts: () => { hosts: Readonly<Record<string, readonly string[]>>; hostsOnly: boolean; timeoutMs: number }) {}

  async resolve(host: string): Promise<ResolvedAddress[]> {
    const o = this.opts();
    const mapped = o.hosts[host];
    if (mapped !== undefined) return mapped.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }));
    if (o.hostsOnly) throw Object.assign(new Error(`${host} is not in network.hosts`), { code: 'ENOTFOUND' });
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = await Promise.race([
        lookup(host, { all: true, verbatim: true }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), o.timeoutMs);
        }),
      ]);
      return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
    } finally {
      clearTimeout(timer);
    }
  }
}
