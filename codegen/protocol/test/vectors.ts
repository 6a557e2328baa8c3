/**
 * Random valid messages built from the protocol model, hostile variants of
 * their encodings, and the golden-vector lines the C test checks (see
 * golden.c for the line format).  Used by write-vectors.ts (run by ctest) and
 * by codegen/test/protocol.test.ts.
 */
import { pathToFileURL } from 'node:url';
import type { LeafModel, MessageModel, ProtocolModel } from '../model.ts';

/** The parts of a generated ts/protocol.ts these tests use (it is a build product, so typed loosely here). */
export interface Codec {
  encode(m: object): Uint8Array;
  decode(bytes: Uint8Array, route: string): unknown;
  format(m: object): string;
  isDecodeError(x: unknown): x is { code: string; offset: number; field: string; message: string };
  formatInet4(b: Uint8Array): string;
  formatInet6(b: Uint8Array): string;
  readonly TYPES: Record<string, { name: string; route: string; kind: string; bytes: number; fds: readonly string[] }>;
  readonly MAX_MESSAGE_BYTES: number;
  readonly HEADER_BYTES: number;
}

export async function loadCodec(file: string): Promise<Codec> {
  return (await import(pathToFileURL(file).href)) as Codec;
}

export const ROUTES = ['shim-to-operator', 'operator-to-shim', 'port'] as const;

/** mulberry32: small, deterministic, good enough to pick test values. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }
  /** An integer in lo..hi (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** Often an edge of the range, otherwise anything in it. */
  edgy(lo: number, hi: number): number {
    const r = this.int(0, 5);
    return r === 0 ? lo : r === 1 ? hi : this.int(lo, hi);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(0, 255));
  }
}

/** Characters that stress the string rules: escapes, control characters, every UTF-8 length, a BOM. */
const STRING_POOL = ['a', 'Z', '0', ' ', '-', '"', '\\', '\x01', '\x1f', '\x7f', '\t', 'é', '€', '\uFEFF', '𝄞', '中'];

function randomString(rng: Rng, max: number): string {
  const budget = rng.int(0, 3) === 0 ? max : rng.int(0, max);
  let s = '';
  let used = 0;
  for (let tries = 0; tries < 4 * max && used < budget; tries++) {
    const ch = rng.pick(STRING_POOL);
    const n = Buffer.byteLength(ch, 'utf8');
    if (used + n > budget) continue;
    s += ch;
    used += n;
  }
  return s;
}

function randomAddress(rng: Rng, codec: Codec): object {
  const port = rng.edgy(0, 0xffff);
  switch (rng.int(0, 3)) {
    case 0:
      return { family: 'unspec' };
    case 1:
      return { family: 'inet', address: codec.formatInet4(rng.bytes(4)), port };
    default: {
      // Zero words are frequent so that '::' placement and the embedded-IPv4 forms get exercised.
      const b = new Uint8Array(16);
      const shape = rng.int(0, 3);
      for (let i = 0; i < 8; i++) {
        if (rng.int(0, 1) === 0) continue;
        b[2 * i] = rng.int(0, 1) ? rng.int(0, 255) : 0;
        b[2 * i + 1] = rng.int(0, 255);
      }
      if (shape === 0) b.fill(0, 0, 10).set([0xff, 0xff], 10); // ::ffff:a.b.c.d
      if (shape === 1) b.fill(0, 0, 12); // ::a.b.c.d
      return {
        family: 'inet6',
        address: codec.formatInet6(b),
        port,
        flowinfo: rng.edgy(0, 0xffffffff),
        scopeId: rng.edgy(0, 0xffffffff),
      };
    }
  }
}

function randomLeaf(leaf: LeafModel, rng: Rng, codec: Codec): unknown {
  switch (leaf.kind) {
    case 'u8':
      return rng.edgy(0, 0xff);
    case 'u16':
      return rng.edgy(0, 0xffff);
    case 'u32':
      return rng.edgy(0, 0xffffffff);
    case 'u64': {
      const r = rng.int(0, 3);
      if (r === 0) return 0n;
      if (r === 1) return 0xffffffffffffffffn;
      return (BigInt(rng.int(0, 0xffffffff)) << 32n) | BigInt(rng.int(0, 0xffffffff));
    }
    case 'i32':
      return rng.edgy(-0x80000000, 0x7fffffff);
    case 'errno':
      return rng.edgy(1, 4095);
    case 'bool':
      return rng.int(0, 1) === 1;
    case 'enum':
      return rng.pick(leaf.enumRef!.values).name;
    case 'flags':
      return leaf.flagsRef!.bits.filter(() => rng.int(0, 1) === 1).map((b) => b.name);
    case 'string':
      return randomString(rng, leaf.max!);
    case 'bytes':
      return rng.bytes(leaf.length!);
    case 'sockaddr':
      return randomAddress(rng, codec);
  }
}

/** A random valid message of this type, as the generated TypeScript types spell it. */
export function randomMessage(msg: MessageModel, rng: Rng, codec: Codec): Record<string, unknown> {
  const requestId = msg.kind === 'notice' ? 0 : msg.kind === 'request' ? rng.edgy(1, 0xffffffff) : rng.edgy(0, 0xffffffff);
  const out: Record<string, unknown> = { type: msg.name, requestId };
  for (const f of msg.fields) {
    if (f.isStruct) out[f.tsName] = Object.fromEntries(f.leaves.map((l) => [l.tsName, randomLeaf(l, rng, codec)]));
    else out[f.tsName] = randomLeaf(f.leaves[0]!, rng, codec);
  }
  return out;
}

/** A hostile variant of a valid encoding (the same strategies as the C fuzz loop). */
export function mutate(bytes: Uint8Array, rng: Rng, maxBytes: number): Uint8Array {
  switch (rng.int(0, 3)) {
    case 0: {
      const b = Uint8Array.from(bytes);
      for (let k = rng.int(1, 4); k > 0; k--) {
        const at = rng.int(0, b.length - 1);
        b[at] = rng.int(0, 1) ? rng.int(0, 255) : b[at]! ^ (1 << rng.int(0, 7));
      }
      return b;
    }
    case 1: {
      const b = Uint8Array.from(bytes); // one body byte (messages without fields stay valid)
      if (b.length > 16) b[rng.int(16, b.length - 1)] = rng.int(0, 255);
      return b;
    }
    case 2:
      return bytes.subarray(0, rng.int(0, bytes.length - 1));
    default: {
      const b = new Uint8Array(Math.min(bytes.length + rng.int(1, 16), maxBytes + 8));
      b.set(bytes);
      b.set(rng.bytes(b.length - bytes.length), bytes.length);
      return b;
    }
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** One golden line: what the TypeScript codec says about these bytes read from `route`. */
export function vectorLine(codec: Codec, route: string, bytes: Uint8Array): string {
  const r = codec.decode(bytes, route);
  const verdict = codec.isDecodeError(r) ? `reject ${r.code} ${r.offset} ${r.field}` : `ok ${codec.format(r as object)}`;
  return `${route} ${hex(bytes)} ${verdict}`;
}

export interface VectorOptions {
  readonly seed: number;
  /** Valid messages per type. */
  readonly perType: number;
  /** Hostile variants per valid message. */
  readonly mutations: number;
}

/** The golden file: random valid messages of every type, and hostile variants of them. */
export function vectorLines(model: ProtocolModel, codec: Codec, opts: VectorOptions): string[] {
  const rng = new Rng(opts.seed);
  const lines = [`# protocol ${model.version} golden vectors, seed ${opts.seed}: <route> <hex> ok <text> | reject <status> <offset> <field>`];
  for (const msg of model.messages) {
    for (let i = 0; i < opts.perType; i++) {
      const bytes = codec.encode(randomMessage(msg, rng, codec));
      lines.push(vectorLine(codec, msg.route, bytes));
      for (let k = 0; k < opts.mutations; k++) {
        const route = rng.int(0, 4) === 0 ? rng.pick(ROUTES) : msg.route;
        lines.push(vectorLine(codec, route, mutate(bytes, rng, codec.MAX_MESSAGE_BYTES)));
      }
    }
  }
  return lines;
}
