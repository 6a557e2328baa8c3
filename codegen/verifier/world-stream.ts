/**
 * The world around a TCP socket under test: the harness's listeners (a
 * normal one, one with a full accept queue, a port nobody holds), the peer
 * connection the harness accepts, and the bytes each way.
 */
import { ANY0, bool, type Addr, type ApplyArgs, type SeqParams, type World, type WorldEffect } from './world.ts';
import { argumentCondition, bindVariants, MSG, PORTS, shutdownVariants, SIZES, variant, type AddrKind, type Variant } from './vocabulary.ts';

interface Conn {
  /** Bytes waiting in our receive queue. */
  readonly rx: number;
  /** Our bytes the peer has not read. */
  readonly unread: number;
  /** Our send buffer is full. */
  readonly full: boolean;
  /** The peer closed its socket. */
  readonly gone: boolean;
}

export interface StreamWorld {
  /** O_NONBLOCK on the socket under test's file. */
  readonly fdNonblock: boolean;
  readonly local: Addr;
  /** bind() chose the address (SOCK_BINDADDR_LOCK): disconnects keep it. */
  readonly addrLocked: boolean;
  readonly peer: Addr;
  readonly conn: Conn | null;
  /** Connections waiting in our accept queue. */
  readonly pending: number;
  /** The next ephemeral port generation. */
  readonly eph: number;
  /** The local port an actively closed connection of ours left in TIME_WAIT, if any. */
  readonly timeWaitPort: number | null;
  /**
   * The socket still holds its port.  TCP keeps showing a port it released
   * (after a failed connect, a disconnect or a reset, unless bind() locked it),
   * so the shown port and the held port differ.
   */
  readonly portHeld: boolean;
}

const held = (w: StreamWorld): boolean => w.portHeld;

/** accept4's flag for a non-blocking new socket. */
const SOCK_NONBLOCK = 0o4000;

const CONNECTED = new Set(['connected', 'rdShut', 'wrShut', 'bothShut', 'peerClosed']);
const DEAD = new Set(['fresh', 'bound', 'failed', 'finished', 'reset', 'closed', 'listening']);

function targetAddr(v: Variant): Addr {
  // Connecting to the wildcard address reaches loopback; Linux reports the peer as loopback.
  const kind: AddrKind = v.addr === 'ANY' ? 'LOOPBACK' : v.addr;
  return { kind, port: v.port };
}

function targetKind(v: Variant): string {
  if (v.addr === 'UNSPEC') return 'unspec';
  if (v.port === PORTS.PEER) return 'listener';
  if (v.port === PORTS.FULL) return 'full';
  return 'nobody';
}

function recvMode(flags: number): string {
  if (flags & MSG.PEEK) return 'peek';
  if (flags & MSG.WAITALL) return 'waitall';
  if (flags & MSG.TRUNC) return 'trunc';
  return 'plain';
}

export const streamWorld: World<StreamWorld> = {
  machine: 'stream',

  initial: (p) => ({ fdNonblock: p.nonblock, local: ANY0, addrLocked: false, peer: { kind: 'NONE', port: 0 }, conn: null, pending: 0, eph: 0, timeWaitPort: null, portHeld: false }),

  variants(call: string, p: SeqParams): readonly Variant[] {
    const v6 = p.family === 6;
    switch (call) {
      case 'socket':
        return [variant({ call, label: 'socket()' })];
      case 'bind':
        return bindVariants(call);
      case 'listen':
        return [variant({ call, label: 'listen(8)' })];
      case 'accept':
        return [
          variant({ call, label: 'accept()', api: 'ACCEPT' }),
          variant({ call, label: 'accept4(SOCK_CLOEXEC)', api: 'ACCEPT4' }),
          variant({ call, label: 'accept(), then use it', api: 'ACCEPT', follow: true }),
          variant({ call, label: 'accept4(SOCK_NONBLOCK), then use it', api: 'ACCEPT4', flags: SOCK_NONBLOCK, follow: true }),
        ];
      case 'connect':
        return [
          variant({ call, label: 'connect(listener)', addr: 'LOOPBACK', port: PORTS.PEER }),
          variant({ call, label: 'connect(wildcard listener)', addr: 'ANY', port: PORTS.PEER }),
          ...(v6 ? [variant({ call, label: 'connect(v4-mapped listener)', addr: 'MAPPED', port: PORTS.PEER })] : []),
          variant({ call, label: 'connect(full backlog)', addr: 'LOOPBACK', port: PORTS.FULL }),
          variant({ call, label: 'connect(nobody)', addr: 'LOOPBACK', port: PORTS.NOBODY }),
          variant({ call, label: 'connect(AF_UNSPEC)', addr: 'UNSPEC' }),
        ];
      case 'shutdown':
        return shutdownVariants(call);
      case 'send':
        return [
          variant({ call, label: 'send(0)', api: 'SEND', len: SIZES.send }),
          variant({ call, label: 'send(MSG_DONTWAIT)', api: 'SEND', flags: MSG.DONTWAIT, len: SIZES.send }),
          variant({ call, label: 'send(MSG_NOSIGNAL)', api: 'SEND', flags: MSG.NOSIGNAL, len: SIZES.send }),
          variant({ call, label: 'sendto(NULL)', api: 'SENDTO', len: SIZES.send }),
          variant({ call, label: 'sendmsg(MSG_NOSIGNAL|MSG_DONTWAIT)', api: 'SENDMSG', flags: MSG.NOSIGNAL | MSG.DONTWAIT, len: SIZES.send }),
          variant({ call, label: 'write()', api: 'WRITE', len: SIZES.send }),
          variant({ call, label: 'writev()', api: 'WRITEV', len: SIZES.send }),
        ];
      case 'recv':
        return [
          variant({ call, label: 'recv(0)', api: 'RECV', len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_DONTWAIT)', api: 'RECV', flags: MSG.DONTWAIT, len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_PEEK)', api: 'RECV', flags: MSG.PEEK, len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_WAITALL)', api: 'RECV', flags: MSG.WAITALL, len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_TRUNC)', api: 'RECV', flags: MSG.TRUNC, len: SIZES.recv }),
          variant({ call, label: 'recvfrom()', api: 'RECVFROM', len: SIZES.recv }),
          variant({ call, label: 'recvmsg(MSG_DONTWAIT)', api: 'RECVMSG', flags: MSG.DONTWAIT, len: SIZES.recv }),
          variant({ call, label: 'read()', api: 'READ', len: SIZES.recv }),
          variant({ call, label: 'readv()', api: 'READV', len: SIZES.recv }),
        ];
      case 'peerSend':
        return [variant({ call, label: 'peer send', len: SIZES.peerSend })];
      default:
        return [variant({ call, label: call })];
    }
  },

  feasible(w: StreamWorld, v: Variant): boolean {
    switch (v.call) {
      case 'peerSend':
      case 'peerShutWr':
      case 'peerClose':
      case 'peerReset':
      case 'drain':
        return w.conn !== null && !w.conn.gone;
      case 'fill':
        return w.conn !== null && !w.conn.full;
      default:
        return true;
    }
  },

  condition(w: StreamWorld, v: Variant | null, p: SeqParams, name: string): string {
    const flags = v?.flags ?? 0;
    const common = argumentCondition(v, w.fdNonblock, name);
    if (common !== undefined) return common;
    switch (name) {
      case 'readable': {
        const rx = w.conn?.rx ?? 0;
        if (rx === 0) return 'none';
        return rx < (v?.len || SIZES.recv) ? 'some' : 'enough';
      }
      case 'writable':
        return bool(!(w.conn?.full ?? false));
      case 'pending':
        return bool(w.pending > 0);
      case 'portTimeWait':
        return bool(w.timeWaitPort !== null && w.timeWaitPort === w.local.port);
      case 'target':
        if (!v) return 'listener';
        // A socket bound to ::1 has no route to an IPv4 address.
        if (v.addr === 'MAPPED' && w.addrLocked && w.local.kind === 'LOOPBACK') return 'unreachable';
        return targetKind(v);
      case 'recvMode':
        return recvMode(flags);
      case 'nosignal':
        return bool((flags & MSG.NOSIGNAL) !== 0);
      case 'peerUnread':
        return bool((w.conn?.unread ?? 0) > 0);
      case 'peerGone':
        return bool(w.conn?.gone ?? false);
      default:
        throw new Error(`stream world: unknown condition '${name}'`);
    }
  },

  apply(a: ApplyArgs<StreamWorld>): WorldEffect<StreamWorld> {
    const { variant: v, outcome: o, next } = a;
    let w: StreamWorld = a.world;
    let count: number | undefined;
    let acceptPeer = false;

    // The socket's own address.
    const newEph = (): number => {
      const port = -(w.eph + 1);
      w = { ...w, eph: w.eph + 1 };
      return port;
    };
    switch (o.local) {
      case 'bind': {
        if (o.fails !== undefined) break;
        const port = v.port === 0 ? newEph() : v.port;
        w = { ...w, local: { kind: v.addr, port }, addrLocked: v.addr !== 'ANY', portHeld: true };
        break;
      }
      case 'autobind':
        if (!held(w)) {
          const port = newEph();
          w = { ...w, local: { ...w.local, port }, portHeld: true };
        }
        break;
      case 'connect': {
        const kind: AddrKind = w.addrLocked ? w.local.kind : v.addr === 'MAPPED' ? 'MAPPED' : 'LOOPBACK';
        const port = held(w) ? w.local.port : newEph();
        w = { ...w, local: { kind, port }, peer: targetAddr(v), portHeld: true };
        break;
      }
      case 'refused': {
        const port = held(w) || a.state === 'failed' ? w.local.port : newEph();
        w = { ...w, local: { kind: w.addrLocked ? w.local.kind : 'ANY', port }, portHeld: a.memoryAfter.get('bindLocked') === 'true' };
        break;
      }
      case 'disconnect':
        w = {
          ...w,
          local: { kind: w.addrLocked ? w.local.kind : 'ANY', port: w.local.port },
          portHeld: a.memoryAfter.get('bindLocked') === 'true' || (held(w) && v.call === 'bind'),
        };
        break;
      default:
        break;
    }

    // Connections and bytes.
    switch (v.call) {
      case 'connect':
        // A new connection to the harness listener (blocking success, or EINPROGRESS that completed).
        if (o.local === 'connect' && targetKind(v) === 'listener' && CONNECTED.has(next)) {
          w = { ...w, conn: { rx: 0, unread: 0, full: false, gone: false } };
          acceptPeer = true;
        }
        if (targetKind(v) === 'unspec' && o.local === 'disconnect') w = { ...w, conn: null, pending: 0 };
        break;
      case 'shutdown':
        if (o.local === 'disconnect') w = { ...w, conn: null, pending: 0 };
        break;
      case 'accept':
        if (o.returns === 'fd') w = { ...w, pending: w.pending - 1 };
        break;
      case 'send':
        if (o.returns === 'sent' && w.conn) {
          count = v.len;
          w = { ...w, conn: { ...w.conn, unread: w.conn.unread + v.len } };
        }
        break;
      case 'recv':
        if (o.returns === 'received' && w.conn) {
          const rx = w.conn.rx;
          count = o.blocks ? rx : Math.min(v.len, rx);
          if (!(v.flags & MSG.PEEK)) w = { ...w, conn: { ...w.conn, rx: rx - count } };
        } else if (o.returns === 'received') {
          throw new Error(`stream world: recv returns data in '${a.state}' but there is no connection`);
        }
        break;
      case 'peerConnect':
        w = { ...w, pending: w.pending + 1 };
        break;
      case 'peerSend':
        // Data the socket answers with a RST (after shutdown(SHUT_RD) in FIN_WAIT) is not queued.
        if (w.conn && next !== 'reset') w = { ...w, conn: { ...w.conn, rx: w.conn.rx + v.len } };
        if (w.conn && next === 'reset') w = { ...w, conn: { ...w.conn, gone: true } };
        break;
      case 'peerClose':
        if (w.conn) w = { ...w, conn: { ...w.conn, gone: true } };
        break;
      case 'peerReset':
        if (w.conn) w = { ...w, conn: { ...w.conn, gone: true } };
        break;
      case 'fill':
        if (w.conn) w = { ...w, conn: { ...w.conn, full: true, unread: w.conn.unread + 1 } };
        break;
      case 'drain':
        if (w.conn) w = { ...w, conn: { ...w.conn, full: false, unread: 0 } };
        break;
      case 'close':
        w = { ...w, conn: null, pending: 0 };
        break;
      default:
        break;
    }
    // We sent FIN first and then got the peer's: that connection lingers in TIME_WAIT on our port.
    if (next === 'finished' && (a.state === 'wrShut' || a.state === 'bothShut')) w = { ...w, timeWaitPort: w.local.port };
    // tcp_done releases a port bind() did not lock; getsockname keeps showing it.
    if ((next === 'reset' || next === 'finished') && a.state !== next && a.memoryAfter.get('bindLocked') !== 'true') {
      w = { ...w, portHeld: false };
    }
    // A peer that sent RST, or a connection dissolved, keeps no harness peer worth driving.
    if (DEAD.has(next) && w.conn && next !== 'reset' && next !== 'finished') w = { ...w, conn: null };
    return { world: w, ...(count !== undefined ? { count } : {}), ...(acceptPeer ? { acceptPeer } : {}) };
  },

  adopt(w: StreamWorld, v: Variant): StreamWorld {
    // The accepted socket: the address the client reached (loopback when we listen on the wildcard),
    // our listening port, the client's ephemeral port as its peer, no bind locks of its own, and
    // blocking unless accept4(SOCK_NONBLOCK) said otherwise (O_NONBLOCK is not inherited).
    return {
      fdNonblock: (v.flags & SOCK_NONBLOCK) !== 0,
      local: { kind: w.local.kind === 'ANY' ? 'LOOPBACK' : w.local.kind, port: w.local.port },
      addrLocked: false,
      peer: { kind: 'LOOPBACK', port: -(w.eph + 1) },
      conn: { rx: 0, unread: 0, full: false, gone: false },
      pending: 0,
      eph: w.eph + 1,
      timeWaitPort: null,
      portHeld: true,
    };
  },

  sockname: (w) => w.local,
  peername: (w) => w.peer,

  key(w: StreamWorld): string {
    const c = w.conn;
    return [
      w.local.kind,
      w.local.port >= 0 ? w.local.port : 'e',
      w.addrLocked ? 'L' : '',
      w.peer.kind,
      w.peer.port,
      w.timeWaitPort === null ? '' : 'tw',
      w.fdNonblock ? 'nb' : '',
      w.portHeld ? 'H' : '',
      c ? `${Math.min(c.rx, 200)}/${c.unread > 0 ? 'u' : ''}${c.full ? 'f' : ''}${c.gone ? 'g' : ''}` : '-',
      Math.min(w.pending, 2),
    ].join(',');
  },
};
