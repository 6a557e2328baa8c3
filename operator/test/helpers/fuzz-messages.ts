/** Random, valid, and mutated control messages for the fuzz test (seeded, so a failure can be replayed). */
import { type Address, encode, type Msg, TYPES } from '../../../build/gen/ts/protocol.ts';

/** xorshift32: small, fast and reproducible. */
export class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

function address(r: Rng): Address {
  switch (r.int(4)) {
    case 0:
      return { family: 'unspec' };
    case 1:
      return { family: 'inet6', address: r.pick(['::', '::1', 'fd00::1', '::ffff:127.0.0.1']), port: r.pick([0, 1, 80, 9000 + r.int(50), 65535]), flowinfo: 0, scopeId: 0 };
    default:
      return { family: 'inet', address: r.pick(['127.0.0.1', '0.0.0.0', '10.0.0.1', '203.0.113.7']), port: r.pick([0, 1, 80, 9000 + r.int(50), 65535]) };
  }
}

/** A valid shim-to-operator message (semantically anything). */
export function validMessage(r: Rng): Msg {
  const requestId = 1 + r.int(1000);
  const reservation = BigInt(r.int(4) === 0 ? r.next() : r.int(30));
  const socketType = r.pick(['stream', 'dgram'] as const);
  switch (r.int(10)) {
    case 0:
      return { type: 'hello', requestId, pid: r.next() | 0, capabilities: r.pick([[], ['inet6'], ['zero_copy', 'async_connect']]), shimVersion: 'fuzz', program: r.pick(['f', 'zzz', 'ünïcode']) };
    case 1:
      return { type: 'bind', requestId, socketType, address: address(r), options: r.pick([[], ['reuse_addr'], ['reuse_port', 'v6only']]) };
    case 2:
      return { type: 'release', requestId, reservation };
    case 3:
      return { type: 'listen', requestId, reservation, backlog: r.int(5) };
    case 4:
      return { type: 'unlisten', requestId, reservation };
    case 5:
      return { type: 'connect', requestId, socketType, reservation, source: address(r), destination: address(r), options: r.pick([[], ['nonblocking']]) };
    case 6:
      return { type: 'claim', requestId };
    case 7:
      return { type: 'stats_query', requestId };
    case 8:
      return { type: 'shutdown', requestId: 0, circuit: BigInt(r.int(50)), how: r.pick(['rd', 'wr', 'rdwr'] as const) };
    default:
      return { type: 'closed', requestId: 0, circuit: BigInt(r.int(50)), bytesSent: BigInt(r.next()), bytesReceived: 0n, reset: r.int(2) === 1 };
  }
}

/** The bytes of a valid message, then 1–4 mutations of the kinds a hostile peer would try. */
export function mutated(r: Rng): Buffer {
  let b = Buffer.from(encode(validMessage(r)));
  const codes = Object.values(TYPES).map((t) => t.code);
  for (let n = 1 + r.int(4); n > 0; n--) {
    switch (r.int(8)) {
      case 0:
        b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1:
        b[r.int(b.length)] = r.int(256);
        break;
      case 2:
        b = b.subarray(0, r.int(b.length));
        break;
      case 3:
        b = Buffer.concat([b, r.bytes(1 + r.int(600))]);
        break;
      case 4:
        if (b.length >= 8) b.writeUInt16LE(r.pick(codes), 6); // another type, wrong size or route
        break;
      case 5:
        if (b.length >= 10) b.writeUInt16LE(r.int(600), 8);
        break;
      case 6:
        if (b.length >= 11) b[10] = r.int(4);
        break;
      default:
        if (b.length >= 16) b.writeUInt32LE(r.int(3) === 0 ? 0 : r.next(), 12);
    }
  }
  return b;
}
