/** Test clients of a tenant socket: the wire protocol over real SOCK_SEQPACKET sockets and SCM_RIGHTS. */
import type { Address, BindOptions, Msg, SocketType } from '../../../build/gen/ts/protocol.ts';
import { ControlClient, receive, type Received } from '../../src/client/control.ts';
import { native } from '../../src/native.ts';

export { ControlClient, receive };

export function inet(address: string, port: number): Address {
  return { family: 'inet', address, port };
}

export function inet6(address: string, port: number): Address {
  return { family: 'inet6', address, port, flowinfo: 0, scopeId: 0 };
}

export class TestClient extends ControlClient {
  constructor(path: string) {
    super(path);
    this.hello('test');
  }

  bind(address: Address, options: BindOptions[] = [], socketType: SocketType = 'stream'): Received {
    return this.request({ type: 'bind', socketType, address, options } as Omit<Msg, 'requestId'>);
  }

  /**
   * bind + listen; the reservation and the port fd (the "listening socket"),
   * and for a datagram reservation its mailbox memfd (the caller closes it).
   */
  listen(address: Address, backlog = 16, options: BindOptions[] = [], socketType: SocketType = 'stream') {
    const b = this.bind(address, options, socketType);
    if (b.msg.type !== 'bind_reply') throw new Error(`bind: ${JSON.stringify(b.msg)}`);
    const l = this.request({ type: 'listen', reservation: b.msg.reservation, backlog } as Omit<Msg, 'requestId'>);
    const expected = socketType === 'dgram' ? 'mailbox_reply' : 'ok';
    if (l.msg.type !== expected) throw new Error(`listen: ${JSON.stringify(l.msg)}`);
    return { reservation: b.msg.reservation, address: b.msg.address, port: b.fds[0]!, mailbox: l.fds[0] ?? -1 };
  }

  connect(destination: Address, options: { nonblocking?: boolean; socketType?: SocketType } = {}, timeoutMs = 5000): Received {
    return this.request(
      {
        type: 'connect',
        socketType: options.socketType ?? 'stream',
        reservation: 0n,
        source: { family: 'unspec' },
        destination,
        options: options.nonblocking ? ['nonblocking'] : [],
      } as Omit<Msg, 'requestId'>,
      [],
      timeoutMs,
    );
  }
}

/** accept(): one `incoming` from a listening port fd. */
export function accept(port: number, timeoutMs = 5000): Received {
  const r = receive(port, 'port', timeoutMs);
  if (!r) throw new Error('the port fd hung up');
  return r;
}

export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) native.closeFd(fd);
}

/** The errno of an `error` reply, or undefined. */
export function errnum(r: Received): number | undefined {
  return r.msg.type === 'error' ? r.msg.errnum : undefined;
}
