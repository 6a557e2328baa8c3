/**
 * The wire layout rules, in one place: sizes of field types, the header, and
 * the naming conventions of the generated C and TypeScript.  The checker uses
 * them to bound message sizes; the model uses them to place every field.
 */
import type { AnyFieldType, AnyProtocol, Base, Route, Scalar } from '../../specs/language/protocol.ts';

/** "SBWP" in the first four bytes of every message (read as a little-endian u32). */
export const MAGIC = 0x50574253;

/** Header fields in order; the header layout is frozen across protocol versions. */
export const HEADER_FIELDS = [
  { name: 'magic', type: 'u32', offset: 0, doc: '0x50574253: the bytes "SBWP".' },
  { name: 'version', type: 'u16', offset: 4, doc: 'The protocol version; anything else is rejected.' },
  { name: 'type', type: 'u16', offset: 6, doc: 'The message type code.' },
  { name: 'length', type: 'u16', offset: 8, doc: 'Total bytes including the header: the message\'s fixed size.' },
  { name: 'fd_count', type: 'u8', offset: 10, doc: 'Attached fds: exactly the number the message type declares.' },
  { name: 'reserved', type: 'u8', offset: 11, doc: 'Zero.' },
  {
    name: 'request_id',
    type: 'u32',
    offset: 12,
    doc: 'Chosen by the requester (never 0); echoed by the reply; 0 in notices.',
  },
] as const;
export const HEADER_BYTES = 16;

/** Bytes of an encoded socket address: family, port, flowinfo, scope_id, 16 address bytes. */
export const SOCKADDR_BYTES = 28;

/** Linux never has more fds in one SCM_RIGHTS message (SCM_MAX_FD). */
export const SCM_MAX_FD = 253;

/** The header's length field is a u16. */
export const MAX_MESSAGE_LIMIT = 0xffff;

export const SCALARS: readonly Scalar[] = ['u8', 'u16', 'u32', 'u64', 'i32', 'bool', 'errno', 'sockaddr'];
export const BASES: readonly Base[] = ['u8', 'u16', 'u32'];
export const ROUTES: readonly Route[] = ['shim-to-operator', 'operator-to-shim', 'port'];

export const SCALAR_BYTES: Record<Scalar, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  i32: 4,
  bool: 1,
  errno: 4,
  sockaddr: SOCKADDR_BYTES,
};

export const BASE_BITS: Record<Base, number> = { u8: 8, u16: 16, u32: 32 };

/** The route a reply travels on, given its request's route (undefined: no requests on that route). */
export function replyRoute(request: Route): Route | undefined {
  if (request === 'shim-to-operator') return 'operator-to-shim';
  if (request === 'operator-to-shim') return 'shim-to-operator';
  return undefined;
}

/** Field names the header already uses in the generated TypeScript objects. */
export const RESERVED_FIELD_NAMES = new Set(['type', 'request_id']);

export const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

export function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function pascal(snake: string): string {
  const c = camel(snake);
  return c.charAt(0).toUpperCase() + c.slice(1);
}

/**
 * The encoded size of a field type, or undefined when the type is not one the
 * language knows (the checker reports those; here they just have no size).
 */
export function typeBytes(t: AnyFieldType, p: Pick<AnyProtocol, 'enums' | 'flags' | 'structs'>, depth = 0): number | undefined {
  if (typeof t === 'string') return (SCALARS as readonly string[]).includes(t) ? SCALAR_BYTES[t] : undefined;
  if (!t || typeof t !== 'object') return undefined;
  const keys = Object.keys(t);
  if (keys.length !== 1) return undefined;
  if ('string' in t) return isCount(t.string) ? 2 + t.string : undefined;
  if ('bytes' in t) return isCount(t.bytes) ? t.bytes : undefined;
  if ('enum' in t) {
    const e = own(p.enums, t.enum);
    return e && (BASES as readonly string[]).includes(e.base) ? SCALAR_BYTES[e.base] : undefined;
  }
  if ('flags' in t) {
    const g = own(p.flags, t.flags);
    return g && (BASES as readonly string[]).includes(g.base) ? SCALAR_BYTES[g.base] : undefined;
  }
  if ('struct' in t) {
    const s = own(p.structs, t.struct);
    if (!s || depth > 0 || !Array.isArray(s.fields)) return undefined;
    let sum = 0;
    for (const f of s.fields) {
      const n = typeBytes(f.type, p, depth + 1);
      if (n === undefined) return undefined;
      sum += n;
    }
    return sum;
  }
  return undefined;
}

export function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1;
}

/** A property of a record that the record really has (not one from Object.prototype). */
export function own<V>(rec: { readonly [k: string]: V } | undefined, key: unknown): V | undefined {
  if (!rec || typeof rec !== 'object' || typeof key !== 'string') return undefined;
  return Object.prototype.hasOwnProperty.call(rec, key) ? rec[key] : undefined;
}
