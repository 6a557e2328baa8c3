/**
 * A blocking client of a tenant's control socket, speaking the wire protocol
 * through the native addon — what the shim will do in C.  Used by
 * `switchboard stats`, the tests and the fuzzer; it is deliberately simple:
 * one request at a time, replies matched by request id.
 */
import {
  decode,
  encode,
  isDecodeError,
  MAX_FDS,
  MAX_MESSAGE_BYTES,
  type Msg,
  type Route,
} from '../../../build/gen/ts/protocol.ts';
import { native } from '../native.ts';

export interface Received {
  readonly msg: Msg;
  readonly fds: number[];
}

export class ProtocolClientError extends Error {
  constructor(
    message: string,
    readonly errnum?: number,
  ) {
    super(message);
  }
}

/** Reads one message from fd (blocking up to timeoutMs); null at EOF. */
export function receive(fd: number, route: Route, timeoutMs = 5000): Received | null {
  if (!native.waitReadable(fd, timeoutMs)) throw new ProtocolClientError(`no message within ${timeoutMs} ms`);
  const r = native.recvMessage(fd, MAX_MESSAGE_BYTES, MAX_FDS);
  if (r.kind === 'eof') return null;
  if (r.kind === 'again') return receive(fd, route, timeoutMs);
  if (r.kind === 'error') throw new ProtocolClientError(`receive failed (errno ${r.errno})`, r.errno);
  const msg = decode(r.bytes, route);
  if (isDecodeError(msg)) {
    for (const fd of r.fds) native.closeFd(fd);
    throw new ProtocolClientError(`undecodable ${route} message: ${msg.message}`);
  }
  return { msg, fds: r.fds };
}

export class ControlClient {
  private nextId = 1;
  readonly fd: number;

  /** Connects to a tenant socket; throws the kernel's error (ENOENT, ECONNREFUSED, EACCES) as is. */
  constructor(path: string) {
    this.fd = native.connectSeqpacket(path);
  }

  /** Sends a request (requestId filled in) and waits for its reply. */
  request(m: Omit<Msg, 'requestId'>, fds: readonly number[] = [], timeoutMs = 5000): Received {
    const requestId = this.nextId++;
    this.sendRaw(encode({ ...m, requestId } as Msg), fds);
    for (;;) {
      const r = receive(this.fd, 'operator-to-shim', timeoutMs);
      if (!r) throw new ProtocolClientError('the operator closed the connection');
      if (r.msg.requestId === requestId || r.msg.requestId === 0) return r;
      for (const fd of r.fds) native.closeFd(fd);
    }
  }

  notice(m: Omit<Msg, 'requestId'>): void {
    this.sendRaw(encode({ ...m, requestId: 0 } as Msg));
  }

  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    const err = native.sendMessage(this.fd, bytes, fds);
    if (err !== 0) throw new ProtocolClientError(`send failed (errno ${err})`, err);
  }

  hello(program = 'client'): Extract<Msg, { type: 'hello_reply' }> {
    const r = this.request({ type: 'hello', pid: process.pid, capabilities: ['datagrams', 'inet6'], shimVersion: 'test', program } as Omit<Msg, 'requestId'>);
    if (r.msg.type !== 'hello_reply') throw new ProtocolClientError(`hello: ${describe(r.msg)}`, errnumOf(r.msg));
    return r.msg;
  }

  close(): void {
    native.closeFd(this.fd);
  }
}

export function errnumOf(m: Msg): number | undefined {
  return m.type === 'error' ? m.errnum : undefined;
}

export function describe(m: Msg): string {
  return m.type === 'error' ? `error ${m.errnum}: ${m.message}` : m.type;
}
