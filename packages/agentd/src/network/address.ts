import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Address classes the egress proxy refuses unless an IP rule names them (DNS rebinding and
 * metadata-endpoint protection). Anything else is "public".
 */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'multicast' | 'unspecified' | 'reserved' | 'own' | 'public';

const RANGES: ReadonlyArray<[AddressClass, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['private', '100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['link-local', '169.254.0.0', 16, 'ipv4'], // 169.254.169.254: cloud metadata
  ['reserved', '192.0.0.0', 24, 'ipv4'],
  ['reserved', '198.18.0.0', 15, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'], // and 255.255.255.255
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['private', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
  ['reserved', '100::', 64, 'ipv6'],
];

const LISTS: ReadonlyArray<[AddressClass, BlockList]> = (() => {
  const by = new Map<AddressClass, BlockList>();
  for (const [cls, addr, prefix, family] of RANGES) {
    let l = by.get(cls);
    if (!l) by.set(cls, (l = new BlockList()));
    l.addSubnet(addr, prefix, family);
  }
  return [...by.entries()];
})();

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) or IPv4-compatible IPv6 address. */
export function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return m[1];
  const h = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!h) return undefined;
  const hi = parseInt(h[1] ?? '0', 16);
  const lo = parseInt(h[2] ?? '0', 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** The daemon host's own addresses (every interface), looked up when asked. */
export function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase().replace(/%.*$/, ''));
  return out;
}

/** An address's class by the fixed ranges ('public': none), and the form compared with the host's own addresses. */
function rangeClass(address: string): { cls: AddressClass; key: string } {
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) return rangeClass(v4);
  const fam = isIP(address);
  if (fam === 0) return { cls: 'reserved', key: address };
  const family = fam === 4 ? 'ipv4' : 'ipv6';
  for (const [cls, list] of LISTS) if (list.check(address, family)) return { cls, key: address };
  return { cls: 'public', key: address.toLowerCase() };
}

/** rangeClass by address (the ranges never change; each BlockList.check costs microseconds, once per connection adds up). */
const RANGE_CACHE = new Map<string, { cls: AddressClass; key: string }>();

export function classifyAddress(address: string, own: ReadonlySet<string> = ownAddresses()): AddressClass {
  let r = RANGE_CACHE.get(address);
  if (r === undefined) {
    r = rangeClass(address);
    if (RANGE_CACHE.size >= 4096) RANGE_CACHE.clear();
    RANGE_CACHE.set(address, r);
  }
  if (r.cls !== 'public') return r.cls;
  return own.has(r.key) ? 'own' : 'public';
}
