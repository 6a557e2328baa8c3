/**
 * The native addon (operator/native), typed.  It lives at a stable path in the
 * build tree; a missing addon is a build problem, so say which command fixes it.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
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

export interface CreatedCircuit {
  fd: number;
  layout: number;
  mode: number;
  memfdBytes: bigint;
  ringAOffset: bigint;
  ringABytes: number;
  ringBOffset: bigint;
  ringBBytes: number;
}

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
  readonly geometry: {
    readonly layout: number;
    readonly memfdBytes: bigint;
    readonly ringAOffset: bigint;
    readonly ringABytes: number;
    readonly ringBOffset: bigint;
    readonly ringBBytes: number;
  };
  readonly connectorLocal: WireAddress;
  readonly connectorPeer: WireAddress;
  readonly acceptorLocal: WireAddress;
  readonly acceptorPeer: WireAddress;
}

export interface GrantResult {
  /** 0, or why `incoming` could not be queued (then nothing was sent). */
  readonly incomingErrno: number;
  readonly replyErrno: number;
}

export interface EndpointPair {
  readonly connectorFd: number;
  readonly acceptorFd: number;
  readonly connectorCookie: bigint;
  readonly acceptorCookie: bigint;
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
  createCircuit(mode: number, ringA: number, ringB: number): CreatedCircuit;
  ringCounters(memfd: number): BigUint64Array;
  memfdRead(fd: number, offset: number, length: number): Buffer;
  memfdWrite(fd: number, offset: number, bytes: Uint8Array): number;
  memfdSeals(fd: number): number;
  /** The connect hot path (operator/native/src/grant.cc). */
  grantCircuit(g: GrantRequest): GrantResult;
  endpointPair(stream: boolean): EndpointPair;
  /** Makes `count` circuits with their endpoint pairs on the thread pool. */
  prepareCircuits(mode: number, count: number, cb: (err: Error | null, made?: (CreatedCircuit & EndpointPair)[]) => void): void;
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
