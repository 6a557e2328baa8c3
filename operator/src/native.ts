/**
 * The native addon (operator/native), typed.  It lives at a stable path in the
 * build tree; a missing addon is a build problem, so say which command fixes it.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Geometry } from '../../build/gen/ts/protocol.ts';
import { NATIVE_ADDON } from './paths.ts';

export interface AcceptedPeer {
  fd: number;
  pid: number;
  uid: number;
  gid: number;
}

export type Received =
  | { kind: 'message'; bytes: Buffer; fds: number[]; truncated: boolean }
  | { kind: 'again' }
  | { kind: 'eof' }
  | { kind: 'error'; errno: number };

export interface FdIdentity {
  socket: boolean;
  dev: bigint;
  ino: bigint;
  cookie: bigint;
}

export type WireAddress = readonly ['inet' | 'inet6', string, number];

export interface GrantRequest {
  readonly listenerFd: number;
  readonly sessionFd: number;
  readonly memfd: number;
  readonly connectorFd: number;
  readonly acceptorFd: number;
  readonly stream: boolean;
  readonly circuit: bigint;
  readonly requestId: number;
  readonly geometry: Geometry;
  readonly connectorLocal: WireAddress;
  readonly connectorPeer: WireAddress;
  readonly acceptorLocal: WireAddress;
  readonly acceptorPeer: WireAddress;
  /** A datagram listener's mailbox and the count to write into it once `incoming` is queued. */
  readonly mailboxFd?: number;
  readonly mailboxCount?: bigint;
}

export interface GrantResult {
  /** 0, or why `incoming` could not be queued (then nothing was sent). */
  readonly incomingErrno: number;
  readonly replyErrno: number;
}

/** The circuit's geometry, as the wire protocol carries it. */
export type { Geometry } from '../../build/gen/ts/protocol.ts';

/** A circuit made ahead of time: JavaScript owns its three fds. */
export interface NativeFreshCircuit {
  readonly memfd: number;
  readonly geometry: Geometry;
  readonly connectorFd: number;
  readonly acceptorFd: number;
  readonly connectorCookie: bigint;
  readonly acceptorCookie: bigint;
}

/** What the fast path decided for one (tenant, type, destination) (fastpath.cc). */
export type FastDecision =
  | { readonly allow: true; readonly id: number; readonly toTenant: number; readonly source: WireAddress }
  | { readonly allow: false; readonly errno: number; readonly rule: string; readonly message: string };

export interface FastListener {
  readonly tenant: number;
  readonly type: number;
  readonly port: number;
  readonly inet6: boolean;
  /** ipBytes() of the bound address. */
  readonly ip: Uint8Array;
  readonly v6only: boolean;
  readonly backlog: number;
  readonly fd: number;
  readonly pid: number;
  readonly uid: number;
}

export interface FastDenial {
  readonly session: number;
  readonly tenant: number;
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly type: 'stream' | 'dgram';
  readonly destination: InetWireAddress;
  readonly rule: string;
  readonly errno: number;
  /** Date.now() of the denial. */
  readonly at: number;
}

export type InetWireAddress =
  | { readonly family: 'inet'; readonly address: string; readonly port: number }
  | { readonly family: 'inet6'; readonly address: string; readonly port: number; readonly flowinfo: number; readonly scopeId: number };

export interface FastDrained {
  /** Messages the fast path answered (counted as received). */
  readonly messages: number;
  /** Grant records, 128 bytes each (fastpath.cc GrantRecord, read by fastpath.ts); their memfds are JavaScript's now. */
  readonly grants: ArrayBuffer;
  /** `closed` and `shutdown` notices, 40 bytes each (fastpath.cc NoticeRecord). */
  readonly notices: ArrayBuffer;
  readonly denials: readonly FastDenial[];
}

export interface NativeFastPath {
  decide(tenant: number, type: number, destination: WireAddress, d: FastDecision): void;
  clearDecisions(): void;
  listen(reservation: bigint, l: FastListener): void;
  unlisten(reservation: bigint): void;
  addPorts(tenant: number, type: number, ports: readonly number[]): void;
  reclaimPort(tenant: number, type: number, port: number): boolean;
  takeFresh(type: number): NativeFreshCircuit;
  /** Closes these fds on the pool's background thread. */
  closeSoon(fds: Int32Array): void;
  newCircuitId(): bigint;
  /** [circuits ready, circuits made on the spot because the pool was empty]. */
  pooled(): [number, number];
  drain(): FastDrained | null;
  close(): void;
}

/** What a control connection's reader hands JavaScript: recvMessage's results, or a fast-path reply that could not be sent. */
export type SessionRecord = Received | { kind: 'send_failed'; errno: number; what: string };

export interface NativeControlSession {
  /** While held, every message goes to JavaScript (it has requests to answer first, or no hello yet). */
  hold(on: boolean): void;
  pause(): void;
  resume(): void;
  close(): void;
}

export interface Watcher {
  close(): void;
}

export interface Native {
  listenSeqpacket(path: string, backlog: number): number;
  connectSeqpacket(path: string, nonblocking?: boolean): number;
  acceptPeer(fd: number): AcceptedPeer | null;
  socketPair(kind: 'seqpacket' | 'stream' | 'dgram'): [number, number];
  /** 0, or the errno. */
  sendMessage(fd: number, bytes: Uint8Array, fds?: readonly number[]): number;
  recvMessage(fd: number, maxBytes: number, maxFds: number): Received;
  closeFd(fd: number): boolean;
  peerHungUp(fd: number): boolean;
  unsentBytes(fd: number): number;
  setSendBuffer(fd: number, bytes: number): number;
  waitReadable(fd: number, timeoutMs: number): boolean;
  setNonblocking(fd: number, on: boolean): void;
  /** Bytes written, or -errno. */
  writeBytes(fd: number, bytes: Uint8Array): number;
  /** The bytes read (empty at EOF), or -errno. */
  readBytes(fd: number, max: number): Buffer | number;
  fdIdentity(fd: number): FdIdentity;
  socketCookie(fd: number): bigint;
  liveUnixCookies(): BigUint64Array;
  ringCounters(memfd: number): BigUint64Array;
  memfdRead(fd: number, offset: number, length: number): Buffer;
  memfdWrite(fd: number, offset: number, bytes: Uint8Array): number;
  memfdSeals(fd: number): number;
  /** A sealed one-page memfd: a datagram reservation's mailbox (protocol: mailbox_reply). */
  createMailbox(): number;
  /** A connect JavaScript decided (operator/native/src/grant.cc). */
  grantCircuit(g: GrantRequest): GrantResult;
  /** The connect fast path and the circuit pool (operator/native/src/fastpath.cc). */
  FastPath: new (
    o: { backlogUnit: number; pool: readonly [number, number]; reportDelayMs: number },
    onReports: () => void,
  ) => NativeFastPath;
  ControlSession: new (
    fast: NativeFastPath,
    fd: number,
    session: number,
    tenant: number,
    pid: number,
    uid: number,
    gid: number,
    callback: (records: SessionRecord[]) => void,
  ) => NativeControlSession;
  Watcher: new (fd: number, callback: (events: number) => void) => Watcher;
  READABLE: number;
  DISCONNECT: number;
}

function load(): Native {
  if (!fs.existsSync(NATIVE_ADDON)) {
    throw new Error(`switchboard: the operator's native addon is missing (${NATIVE_ADDON}); run \`npm run build\``);
  }
  return createRequire(import.meta.url)(NATIVE_ADDON) as Native;
}

export const native: Native = load();

/** An Error from the addon carries errno and its name. */
export function errnoOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { errno?: unknown }).errno === 'number'
    ? (e as { errno: number }).errno
    : undefined;
}
