/**
 * The world around a UDP socket under test: a peer socket, a stranger
 * socket, a port nobody holds, and the datagrams queued for us.
 */
import { ANY0, bool, type Addr, type ApplyArgs, type SeqParams, type World, type WorldEffect } from './world.ts';
import { argumentCondition, bindVariants, MSG, PORTS, shutdownVariants, SIZES, variant, type AddrKind, type Variant } from './vocabulary.ts';

interface Datagram {
  readonly tag: number;
  readonly from: 'peer' | 'stranger';
  readonly size: number;
}

export interface DgramWorld {
  readonly local: Addr;
  readonly addrLocked: boolean;
  /** Where connect() pointed us, if anywhere. */
  readonly connectedTo: 'peer' | 'nobody' | null;
  readonly peer: Addr;
  readonly queue: readonly Datagram[];
  readonly peerClosed: boolean;
  readonly nextTag: number;
  readonly eph: number;
}

const MSG_TRUNC_FLAG = 0x20;

function destOf(v: Variant): 'peer' | 'nobody' {
  return v.port === PORTS.PEER ? 'peer' : 'nobody';
}

/** UDP forgets a port it does not hold (udp_disconnect zeroes it), so a port shown is a port held. */
const held = (w: DgramWorld): boolean => w.local.port !== 0;

export const dgramWorld: World<DgramWorld> = {
  machine: 'dgram',

  initial: () => ({
    local: ANY0,
    addrLocked: false,
    connectedTo: null,
    peer: { kind: 'NONE', port: 0 },
    queue: [],
    peerClosed: false,
    nextTag: 1,
    eph: 0,
  }),

  variants(call: string, p: SeqParams): readonly Variant[] {
    const oversize = p.family === 6 ? SIZES.oversizeV6 : SIZES.oversizeV4;
    switch (call) {
      case 'socket':
        return [variant({ call, label: 'socket()' })];
      case 'bind':
        return bindVariants(call);
      case 'listen':
        return [variant({ call, label: 'listen(8)' })];
      case 'accept':
        return [variant({ call, label: 'accept()', api: 'ACCEPT' })];
      case 'connect':
        return [
          variant({ call, label: 'connect(peer)', addr: 'LOOPBACK', port: PORTS.PEER }),
          variant({ call, label: 'connect(nobody)', addr: 'LOOPBACK', port: PORTS.NOBODY }),
          variant({ call, label: 'connect(AF_UNSPEC)', addr: 'UNSPEC' }),
        ];
      case 'shutdown':
        return shutdownVariants(call);
      case 'send':
        return [
          variant({ call, label: 'send(0)', api: 'SEND', len: SIZES.send }),
          variant({ call, label: 'write()', api: 'WRITE', len: SIZES.send }),
          variant({ call, label: 'sendmsg(MSG_DONTWAIT)', api: 'SENDMSG', flags: MSG.DONTWAIT, len: SIZES.send }),
          variant({ call, label: 'send(oversize)', api: 'SEND', len: oversize }),
        ];
      case 'sendto':
        return [
          variant({ call, label: 'sendto(peer)', api: 'SENDTO', addr: 'LOOPBACK', port: PORTS.PEER, len: SIZES.send }),
          variant({ call, label: 'sendto(nobody)', api: 'SENDTO', addr: 'LOOPBACK', port: PORTS.NOBODY, len: SIZES.send }),
          variant({ call, label: 'sendmsg(peer)', api: 'SENDMSG', addr: 'LOOPBACK', port: PORTS.PEER, len: SIZES.send }),
          variant({ call, label: 'sendto(peer, oversize)', api: 'SENDTO', addr: 'LOOPBACK', port: PORTS.PEER, len: oversize }),
        ];
      case 'recv':
        return [
          variant({ call, label: 'recv(0)', api: 'RECV', len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_DONTWAIT)', api: 'RECV', flags: MSG.DONTWAIT, len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_PEEK)', api: 'RECV', flags: MSG.PEEK, len: SIZES.recv }),
          variant({ call, label: 'recv(MSG_TRUNC)', api: 'RECV', flags: MSG.TRUNC, len: SIZES.recv }),
          variant({ call, label: 'recvfrom()', api: 'RECVFROM', len: SIZES.recv }),
          variant({ call, label: 'recvmsg(MSG_DONTWAIT)', api: 'RECVMSG', flags: MSG.DONTWAIT, len: SIZES.recv }),
          variant({ call, label: 'read()', api: 'READ', len: SIZES.recv }),
        ];
      case 'peerSend':
      case 'strangerSend':
        return [variant({ call, label: call === 'peerSend' ? 'peer sends' : 'stranger sends', len: SIZES.peerSend })];
      default:
        return [variant({ call, label: call })];
    }
  },

  feasible(w: DgramWorld, v: Variant): boolean {
    if (v.call === 'peerSend' || v.call === 'peerClose') return !w.peerClosed;
    return true;
  },

  condition(w: DgramWorld, v: Variant | null, p: SeqParams, name: string): string {
    const flags = v?.flags ?? 0;
    const common = argumentCondition(v, p.nonblock, name);
    if (common !== undefined) return common;
    switch (name) {
      case 'readable':
        return bool(w.queue.length > 0);
      case 'target':
        return !v ? 'peer' : v.addr === 'UNSPEC' ? 'unspec' : destOf(v);
      case 'dest':
        return v ? destOf(v) : 'peer';
      case 'recvMode':
        if (flags & MSG.PEEK) return 'peek';
        if (flags & MSG.TRUNC) return 'trunc';
        return 'plain';
      case 'oversize':
        return bool((v?.len ?? 0) > (p.family === 6 ? SIZES.oversizeV6 - 1 : SIZES.oversizeV4 - 1));
      case 'peerGone':
        return bool(w.connectedTo === 'nobody' || (w.connectedTo === 'peer' && w.peerClosed));
      default:
        throw new Error(`dgram world: unknown condition '${name}'`);
    }
  },

  apply(a: ApplyArgs<DgramWorld>): WorldEffect<DgramWorld> {
    const { variant: v, outcome: o } = a;
    let w: DgramWorld = a.world;
    const newEph = (): number => {
      const port = -(w.eph + 1);
      w = { ...w, eph: w.eph + 1 };
      return port;
    };
    switch (o.local) {
      case 'bind': {
        const port = v.port === 0 ? newEph() : v.port;
        w = { ...w, local: { kind: v.addr, port }, addrLocked: v.addr !== 'ANY' };
        break;
      }
      case 'autobind':
        if (!held(w)) {
          const port = newEph();
          w = { ...w, local: { ...w.local, port } };
        }
        break;
      case 'connect': {
        const kind: AddrKind = w.addrLocked ? w.local.kind : 'LOOPBACK';
        const port = held(w) ? w.local.port : newEph();
        w = { ...w, local: { kind, port } };
        w = { ...w, connectedTo: destOf(v), peer: { kind: 'LOOPBACK', port: v.port } };
        break;
      }
      case 'disconnect': {
        // udp_disconnect: the address goes back to the wildcard unless bind() chose it;
        // the port is forgotten unless bind() chose it.
        const keepPort = a.memory.get('bindLocked') === 'true';
        w = {
          ...w,
          local: { kind: w.addrLocked ? w.local.kind : 'ANY', port: keepPort ? w.local.port : 0 },
          connectedTo: null,
          peer: { kind: 'NONE', port: 0 },
        };
        break;
      }
      default:
        break;
    }

    let count: number | undefined;
    let tag: number | undefined;
    let source: { kind: AddrKind; port: number } | undefined;
    let msgFlags: number | undefined;
    switch (v.call) {
      case 'send':
      case 'sendto':
        if (o.returns === 'sent') count = v.len;
        break;
      case 'recv': {
        const d = w.queue[0];
        if (o.returns === 'received') {
          if (!d) throw new Error(`dgram world: recv returns a datagram in '${a.state}' but none is queued`);
          count = v.flags & MSG.TRUNC ? d.size : Math.min(v.len, d.size);
          tag = d.tag;
          source = { kind: 'LOOPBACK', port: d.from === 'peer' ? PORTS.PEER : PORTS.STRANGER };
          msgFlags = d.size > v.len ? MSG_TRUNC_FLAG : 0;
          if (!(v.flags & MSG.PEEK)) w = { ...w, queue: w.queue.slice(1) };
        }
        break;
      }
      case 'peerSend':
        // A connected socket only accepts datagrams from the address it is connected to.
        if (w.connectedTo === null || w.connectedTo === 'peer') {
          w = { ...w, queue: [...w.queue, { tag: w.nextTag, from: 'peer', size: v.len }] };
        }
        w = { ...w, nextTag: w.nextTag + 1 };
        break;
      case 'strangerSend':
        if (w.connectedTo === null) w = { ...w, queue: [...w.queue, { tag: w.nextTag, from: 'stranger', size: v.len }] };
        w = { ...w, nextTag: w.nextTag + 1 };
        break;
      case 'peerClose':
        w = { ...w, peerClosed: true };
        break;
      case 'close':
        w = { ...w, queue: [] };
        break;
      default:
        break;
    }
    return {
      world: w,
      ...(count !== undefined ? { count } : {}),
      ...(tag !== undefined ? { tag } : {}),
      ...(source ? { source } : {}),
      ...(msgFlags !== undefined ? { msgFlags } : {}),
    };
  },

  sockname: (w) => w.local,
  peername: (w) => w.peer,

  key(w: DgramWorld): string {
    return [
      w.local.kind,
      w.local.port >= 0 ? w.local.port : 'e',
      w.addrLocked ? 'L' : '',
      w.connectedTo ?? '-',
      w.queue.map((d) => d.from[0]).join('').slice(0, 3),
      w.peerClosed ? 'x' : '',
    ].join(',');
  },
};
