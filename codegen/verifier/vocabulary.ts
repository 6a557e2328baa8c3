/**
 * What the verifier's executor (verifier/*.c) knows how to do: operations,
 * libc entry points, address kinds and the harness's fixed ports.  The names
 * here are rendered into the generated header, so the C side and the
 * explorer share one definition.
 */

/** Operations the executor performs; a spec call maps to one of them. */
export const OPS = [
  'SOCKET',
  'BIND',
  'LISTEN',
  'ACCEPT',
  'CONNECT',
  'SHUTDOWN',
  'SEND',
  'RECV',
  'GETSOCKNAME',
  'GETPEERNAME',
  'SO_ERROR',
  'CLOSE',
  'PEER_CONNECT',
  'PEER_SEND',
  'PEER_SHUT_WR',
  'PEER_CLOSE',
  'PEER_RESET',
  'FILL',
  'DRAIN',
  'STRANGER_SEND',
] as const;
export type Op = (typeof OPS)[number];

/** Which spec call each operation drives (both machines use the same names where they can). */
export const OP_OF_CALL: Readonly<Record<string, Op>> = {
  socket: 'SOCKET',
  bind: 'BIND',
  listen: 'LISTEN',
  accept: 'ACCEPT',
  connect: 'CONNECT',
  shutdown: 'SHUTDOWN',
  send: 'SEND',
  sendto: 'SEND',
  recv: 'RECV',
  getsockname: 'GETSOCKNAME',
  getpeername: 'GETPEERNAME',
  soError: 'SO_ERROR',
  close: 'CLOSE',
  peerConnect: 'PEER_CONNECT',
  peerSend: 'PEER_SEND',
  peerShutWr: 'PEER_SHUT_WR',
  peerClose: 'PEER_CLOSE',
  peerReset: 'PEER_RESET',
  fill: 'FILL',
  drain: 'DRAIN',
  strangerSend: 'STRANGER_SEND',
};

/** The libc function a step goes through. */
export const APIS = [
  'DEFAULT',
  'SEND',
  'SENDTO',
  'SENDMSG',
  'WRITE',
  'WRITEV',
  'RECV',
  'RECVFROM',
  'RECVMSG',
  'READ',
  'READV',
  'ACCEPT',
  'ACCEPT4',
] as const;
export type Api = (typeof APIS)[number];

/** Address kinds; the executor renders them for the sequence's family. */
export const ADDRS = ['NONE', 'ANY', 'LOOPBACK', 'MAPPED', 'UNSPEC'] as const;
export type AddrKind = (typeof ADDRS)[number];

/** The harness's ports inside each sequence's private network namespace. */
export const PORTS = {
  PEER: 20001, // stream: the harness listener; dgram: the peer socket
  FULL: 20002, // stream: a listener whose accept queue is full
  NOBODY: 20003, // nothing is bound here
  STRANGER: 20004, // dgram: a second sender
  FIXED: 20010, // free for the socket under test to bind
  TAKEN: 20011, // held by a harness socket that will not share it
  SHARED: 20012, // held by a harness socket with SO_REUSEADDR, not listening
} as const;

/** Linux's default ephemeral port range (net.ipv4.ip_local_port_range). */
export const EPHEMERAL = { low: 32768, high: 60999 } as const;

export const MSG = { PEEK: 0x2, DONTWAIT: 0x40, WAITALL: 0x100, TRUNC: 0x20, NOSIGNAL: 0x4000 } as const;

/** Payload sizes the harness uses. */
export const SIZES = {
  send: 100, // bytes per send() of the socket under test
  peerSend: 100, // bytes (or one datagram) per peer send
  recv: 64, // receive buffer length
  oversizeV4: 65508, // one byte more than a UDP/IPv4 datagram can carry
  oversizeV6: 65528, // one byte more than a UDP/IPv6 datagram can carry
} as const;

/** One concrete way to make a call: the arguments the executor passes. */
export interface Variant {
  readonly call: string;
  readonly op: Op;
  readonly api: Api;
  readonly flags: number;
  readonly addr: AddrKind;
  readonly port: number;
  /** bind: set SO_REUSEADDR first (the shared-port case). */
  readonly reuse: boolean;
  readonly how: 0 | 1 | 2; // SHUT_RD, SHUT_WR, SHUT_RDWR
  readonly len: number;
  /** accept: continue the sequence with the new socket (the listener stays open in the harness). */
  readonly follow: boolean;
  /** A short human name: `recv(MSG_PEEK)`, `bind(lo:0)`. */
  readonly label: string;
}

export function variant(p: Partial<Variant> & Pick<Variant, 'call' | 'label'>): Variant {
  const op = OP_OF_CALL[p.call];
  if (!op) throw new Error(`the verifier cannot drive call '${p.call}' (add it to codegen/verifier/vocabulary.ts and verifier/step.c)`);
  return { op, api: 'DEFAULT', flags: 0, addr: 'NONE', port: 0, reuse: false, how: 0, len: 0, follow: false, ...p };
}

export function flagNames(flags: number): string {
  const names = Object.entries(MSG)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([n]) => `MSG_${n}`);
  return names.length ? names.join('|') : '0';
}

/** bind(): loopback or wildcard, a fixed free port, port 0, a taken port, a port shared under SO_REUSEADDR. */
export function bindVariants(call: string): Variant[] {
  return (['LOOPBACK', 'ANY'] as const).flatMap((addr) => {
    const a = addr === 'ANY' ? 'any' : 'lo';
    return [
      variant({ call, label: `bind(${a}:fixed)`, addr, port: PORTS.FIXED }),
      variant({ call, label: `bind(${a}:0)`, addr, port: 0 }),
      variant({ call, label: `bind(${a}:taken)`, addr, port: PORTS.TAKEN }),
      variant({ call, label: `bind(${a}:shared, SO_REUSEADDR)`, addr, port: PORTS.SHARED, reuse: true }),
    ];
  });
}

export function shutdownVariants(call: string): Variant[] {
  return (['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'] as const).map((h, how) => variant({ call, label: `shutdown(${h})`, how: how as 0 | 1 | 2 }));
}

/** Conditions both worlds answer from the arguments alone; undefined for the others. */
export function argumentCondition(v: Variant | null, nonblockSocket: boolean, name: string): string | undefined {
  const flags = v?.flags ?? 0;
  switch (name) {
    case 'nonblocking':
      return String(nonblockSocket || (flags & MSG.DONTWAIT) !== 0);
    case 'port':
      if (!v || v.port === PORTS.FIXED || v.port === 0) return 'free';
      return v.port === PORTS.TAKEN ? 'taken' : 'shared';
    case 'how':
      return ['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'][v?.how ?? 0];
    default:
      return undefined;
  }
}
