/**
 * Socket addresses as the protocol carries them (`Address` from the generated
 * codec), and the few questions the operator asks about them: wildcard?
 * loopback? inside this CIDR?  IPv4-mapped IPv6 addresses are treated as the
 * IPv4 address they map, as Linux does for a dual-stack socket.
 */
import { type Address, formatInet4, formatInet6, parseInet4, parseInet6 } from '../../../build/gen/ts/protocol.ts';

export type InetAddress = Exclude<Address, { family: 'unspec' }>;

/**
 * Parsed IPs by text: the connect path asks about the same few addresses
 * many times per request, and parsing is regular expressions.  Bounded: a
 * tenant cycling through addresses only makes it start over.
 */
const parsed = new Map<string, Uint8Array>();

/** The IP as 4 or 16 bytes, with a v4-mapped IPv6 address reduced to its 4.  Do not modify the result. */
export function ipBytes(a: InetAddress): Uint8Array {
  const key = a.family === 'inet' ? a.address : `6${a.address}`;
  let b = parsed.get(key);
  if (b) return b;
  if (a.family === 'inet') b = parseInet4(a.address) ?? new Uint8Array(4);
  else {
    const six = parseInet6(a.address) ?? new Uint8Array(16);
    b = isV4Mapped(six) ? six.subarray(12) : six;
  }
  if (parsed.size >= 4096) parsed.clear();
  parsed.set(key, b);
  return b;
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

export function isWildcard(a: InetAddress): boolean {
  // Not via ipBytes: "::ffff:0.0.0.0" is not a wildcard.
  return a.family === 'inet' ? a.address === '0.0.0.0' : a.address === '::';
}

export function isLoopback(a: InetAddress): boolean {
  const b = ipBytes(a);
  if (b.length === 4) return b[0] === 127;
  return b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
}

export function sameIp(a: InetAddress, b: InetAddress): boolean {
  const x = ipBytes(a);
  const y = ipBytes(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** "10.0.0.1:80", "[::1]:80". */
export function formatAddress(a: Address): string {
  if (a.family === 'unspec') return 'unspec';
  return a.family === 'inet' ? `${a.address}:${a.port}` : `[${a.address}]:${a.port}`;
}

export function withPort<A extends InetAddress>(a: A, port: number): A {
  return { ...a, port };
}

/** An address of the same family as `like`: the given IP text (already canonical) and port. */
export function inetAddress(ip: Uint8Array, port: number): InetAddress {
  if (ip.length === 4) return { family: 'inet', address: formatInet4(ip), port };
  return { family: 'inet6', address: formatInet6(ip), port, flowinfo: 0, scopeId: 0 };
}

export function loopbackOf(family: 'inet' | 'inet6', port: number): InetAddress {
  return family === 'inet'
    ? { family: 'inet', address: '127.0.0.1', port }
    : { family: 'inet6', address: '::1', port, flowinfo: 0, scopeId: 0 };
}

/** A parsed "10.0.0.0/8", "fd00::/64" or single IP. */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly text: string;
}

/** Parses an IP or CIDR; undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [ip, len, ...rest] = text.split('/');
  if (rest.length > 0 || ip === undefined) return undefined;
  let bytes: Uint8Array | undefined = parseInet4(ip) ?? parseInet6(ip);
  if (!bytes) return undefined;
  if (isV4Mapped(bytes)) bytes = bytes.subarray(12);
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { bytes, prefix, text };
}

export function parseIp(text: string): Uint8Array | undefined {
  const c = parseCidr(text);
  return c && c.prefix === c.bytes.length * 8 && !text.includes('/') ? c.bytes : undefined;
}

export function cidrContains(c: Cidr, a: InetAddress): boolean {
  const b = ipBytes(a);
  if (b.length !== c.bytes.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((b[i] ?? 0) & mask) !== ((c.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}
