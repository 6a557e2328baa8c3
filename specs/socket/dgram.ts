/**
 * SOCK_DGRAM (UDP) over AF_INET and AF_INET6, as Linux behaves.
 *
 *   socket → fresh ─bind→ bound ─connect→ connected ─connect(AF_UNSPEC)→ bound / fresh
 *   fresh ─sendto→ bound (implicit bind);  fresh ─connect→ connected (implicit bind)
 *   send / recv keep the state;  close → closed
 *
 * For UDP, shutdown() only records directions (sk_shutdown): it fails with
 * ENOTCONN on an unconnected socket yet still records them, and
 * connect(AF_UNSPEC) keeps them.  So they are memory here, not states.  An
 * ICMP port-unreachable leaves ECONNREFUSED pending on a connected socket.
 */
import { defineMachine, under, type Outcome, type Rule } from '../language/machine.ts';
import { badf, ERROR_MEMORY, errIfPending, failPending, reportError } from './common.ts';

type S = 'none' | 'fresh' | 'bound' | 'connected' | 'closed';
type C =
  | 'socket'
  | 'bind'
  | 'listen'
  | 'accept'
  | 'connect'
  | 'shutdown'
  | 'send'
  | 'sendto'
  | 'recv'
  | 'getsockname'
  | 'getpeername'
  | 'soError'
  | 'close'
  | 'peerSend'
  | 'strangerSend'
  | 'peerClose';
type K = 'nonblocking' | 'readable' | 'target' | 'dest' | 'port' | 'how' | 'recvMode' | 'oversize' | 'peerGone';
type F = 'error' | 'bindLocked' | 'shutRd' | 'shutWr';
type O = Outcome<S, F>;
type R = Rule<S, K | F, F>;

const PENDING = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] as const;

/** connect(AF_UNSPEC) (udp_disconnect): an autobound port is released, a bound one kept. */
function disconnected(extra: O = {}): R {
  return [
    { when: { bindLocked: true }, then: { ...extra, to: 'bound', local: 'disconnect' } },
    { when: {}, then: { ...extra, to: 'fresh', local: 'disconnect' } },
  ];
}

/** shutdown(): records the directions; fails with ENOTCONN unless connected (inet_shutdown). */
function shutdownRule(fails: boolean): R {
  const base: O = fails ? { fails: 'ENOTCONN' } : { returns: 'zero' };
  return [
    { when: { how: 'SHUT_RD' }, then: { ...base, set: { shutRd: true } } },
    { when: { how: 'SHUT_WR' }, then: { ...base, set: { shutWr: true } } },
    { when: {}, then: { ...base, set: { shutRd: true, shutWr: true } } },
  ];
}

/**
 * A datagram that has a destination: too big, then a pending error, then a
 * shut writing side (sock_alloc_send_pskb), else it goes.  `ok` is the success.
 */
function transmit(ok: O): R {
  return [
    { when: { oversize: true }, then: { fails: 'EMSGSIZE', why: 'larger than an IP datagram can carry' } },
    { when: { error: PENDING }, then: failPending },
    { when: { shutWr: true }, then: { fails: 'EPIPE', why: 'no SIGPIPE: only stream protocols raise it' } },
    { when: {}, then: ok },
  ];
}

/** send() without an address. */
const sendUnconnected: O = { fails: 'EDESTADDRREQ', why: 'no destination: not connected and no address given' };

/** Any send on a socket without a port binds an ephemeral one first (inet_send_prepare), whatever happens next. */
function autobinding(rule: R): R {
  return under({}, rule).map((c) => ({ ...c, then: { ...c.then, to: 'bound' as const, local: 'autobind' as const } }));
}
const sendtoBound: R = transmit({ returns: 'sent' });

/** A send to the connected peer; if nobody is there, the ICMP answer leaves ECONNREFUSED pending. */

const sendToPeer: R = [
  ...under({ peerGone: true }, transmit({ returns: 'sent', set: { error: 'ECONNREFUSED' }, why: 'port unreachable: the next call reports it' })),
  ...under({ peerGone: false }, transmit({ returns: 'sent' })),
];

/** recv(): a pending error first, then a queued datagram; with nothing queued, SHUT_RD ends a blocking wait. */
const recvRule: R = [
  { when: { error: PENDING }, then: failPending },
  { when: { readable: true }, then: { returns: 'received' } },
  { when: { nonblocking: true }, then: { fails: 'EAGAIN' } },
  { when: { shutRd: true }, then: { returns: 'eof', why: 'a blocking wait sees RCV_SHUTDOWN and returns 0' } },
  { when: {}, then: { blocks: true } },
];

const readiness = [
  'OUT',
  { flag: 'IN', when: { readable: true } },
  { flag: 'IN', when: { shutRd: true } },
  { flag: 'RDHUP', when: { shutRd: true } },
  { flag: 'HUP', when: { shutRd: true, shutWr: true } },
  errIfPending,
] as const;

const noStream = { fails: 'EOPNOTSUPP', why: 'datagram sockets do not listen or accept' } as const;

export const dgram = defineMachine<S, C, K, F>({
  name: 'dgram',
  doc: 'SOCK_DGRAM (UDP) over AF_INET and AF_INET6',
  type: 'SOCK_DGRAM',
  families: ['AF_INET', 'AF_INET6'],
  initial: 'none',
  states: {
    none: { doc: 'no socket yet', poll: ['NVAL'] },
    fresh: { doc: 'created, no port: it can send (binding implicitly) but nothing can reach it', poll: readiness },
    bound: { doc: 'has a port (bind(), or implicitly by a send): receives from anyone', poll: readiness },
    connected: { doc: 'associated with one peer: send() needs no address, only its datagrams are received', poll: readiness },
    closed: { doc: 'close() released the descriptor', poll: ['NVAL'] },
  },
  conditions: {
    nonblocking: { doc: 'O_NONBLOCK on the file, or MSG_DONTWAIT in the call', source: 'argument' },
    readable: { doc: 'a datagram waits in the receive queue', source: 'peer' },
    target: { doc: 'connect: a peer socket, an address nobody listens on, or AF_UNSPEC', source: 'peer', values: ['peer', 'nobody', 'unspec'] },
    dest: { doc: 'sendto: the address has a socket, or nobody', source: 'peer', values: ['peer', 'nobody'] },
    port: {
      doc: 'the port bind() asks for: free, taken by a socket it may not share with, or shared under SO_REUSEADDR',
      source: 'peer',
      values: ['free', 'taken', 'shared'],
    },
    how: { doc: "shutdown's direction", source: 'argument', values: ['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'] },
    recvMode: { doc: 'the receive flag that matters', source: 'argument', values: ['plain', 'peek', 'waitall', 'trunc'] },
    oversize: { doc: 'the datagram is larger than IP can carry (65,507 bytes over IPv4, 65,527 over IPv6)', source: 'argument' },
    peerGone: { doc: 'no socket is bound at the connected address', source: 'peer' },
  },
  memory: {
    error: { doc: 'the pending socket error (sk_err), set by ICMP errors on a connected socket', values: ERROR_MEMORY },
    bindLocked: { doc: 'bind() chose the port, so a disconnect keeps it (SOCK_BINDPORT_LOCK)' },
    shutRd: { doc: 'shutdown(SHUT_RD) was called' },
    shutWr: { doc: 'shutdown(SHUT_WR) was called' },
  },
  calls: {
    socket: { doc: 'socket(AF_INET[6], SOCK_DGRAM[|SOCK_NONBLOCK], 0)', kind: 'call', depends: ['nonblocking'], via: ['socket'] },
    bind: { doc: 'bind() to loopback or wildcard, a fixed port or 0', kind: 'call', depends: ['port'], via: ['bind'] },
    listen: { doc: 'listen()', kind: 'call', depends: [], via: ['listen'] },
    accept: { doc: 'accept()', kind: 'call', depends: [], via: ['accept', 'accept4'] },
    connect: { doc: 'connect() to an address, or AF_UNSPEC', kind: 'call', depends: ['target', 'bindLocked'], via: ['connect'] },
    shutdown: { doc: 'shutdown(how)', kind: 'call', depends: ['how'], via: ['shutdown'] },
    send: { doc: 'send/write/sendmsg without an address', kind: 'call', depends: ['oversize', 'error', 'shutWr', 'peerGone'], via: ['send', 'write', 'writev', 'sendmsg'] },
    sendto: { doc: 'sendto/sendmsg with an address', kind: 'call', depends: ['oversize', 'error', 'shutWr', 'dest'], via: ['sendto', 'sendmsg', 'sendmmsg'] },
    recv: { doc: 'recv/recvfrom/recvmsg/read', kind: 'call', depends: ['nonblocking', 'readable', 'recvMode', 'error', 'shutRd'], via: ['recv', 'recvfrom', 'recvmsg', 'recvmmsg', 'read', 'readv'] },
    getsockname: { doc: 'getsockname()', kind: 'call', depends: [], via: ['getsockname'], pure: true },
    getpeername: { doc: 'getpeername()', kind: 'call', depends: [], via: ['getpeername'], pure: true },
    soError: { doc: 'getsockopt(SOL_SOCKET, SO_ERROR)', kind: 'call', depends: ['error'], via: ['getsockopt'] },
    close: { doc: 'close()', kind: 'call', depends: [], via: ['close'] },
    peerSend: { doc: 'the peer socket sends us a datagram', kind: 'event', depends: [] },
    strangerSend: { doc: 'a socket we are not connected to sends us a datagram', kind: 'event', depends: [] },
    peerClose: { doc: 'the peer socket closes: its address answers port-unreachable', kind: 'event', depends: [] },
  },
  rules: {
    none: {
      socket: { returns: 'fd', to: 'fresh' },
      bind: badf, listen: badf, accept: badf, connect: badf, shutdown: badf, send: badf, sendto: badf, recv: badf,
      getsockname: badf, getpeername: badf, soError: badf, close: badf,
      peerSend: { impossible: 'no socket yet' },
      strangerSend: { impossible: 'no socket yet' },
      peerClose: { impossible: 'no socket yet' },
    },
    fresh: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: [
        { when: { port: 'taken' }, then: { fails: 'EADDRINUSE' } },
        { when: {}, then: { returns: 'zero', to: 'bound', local: 'bind', set: { bindLocked: true } } },
      ],
      listen: noStream,
      accept: noStream,
      connect: [
        { when: { target: 'unspec' }, then: { returns: 'zero', why: 'nothing to dissolve' } },
        { when: {}, then: { returns: 'zero', to: 'connected', local: 'connect', why: 'UDP connect only records the peer; nobody need be there' } },
      ],
      shutdown: shutdownRule(true),
      send: autobinding(sendUnconnected),
      sendto: autobinding(sendtoBound),
      recv: recvRule,
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerSend: { impossible: 'the socket has no port: nothing can reach it' },
      strangerSend: { impossible: 'the socket has no port: nothing can reach it' },
      peerClose: { impossible: 'no peer yet' },
    },
    bound: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already has a port' },
      listen: noStream,
      accept: noStream,
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero' })),
        { when: {}, then: { returns: 'zero', to: 'connected', local: 'connect' } },
      ],
      shutdown: shutdownRule(true),
      send: sendUnconnected,
      sendto: sendtoBound,
      recv: recvRule,
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerSend: { why: 'the datagram is queued' },
      strangerSend: { why: 'an unconnected socket receives from anyone' },
      peerClose: { why: 'matters only once connected to it' },
    },
    connected: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'connect() gave it a port' },
      listen: noStream,
      accept: noStream,
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero', why: 'udp_disconnect: back to unconnected' })),
        { when: {}, then: { returns: 'zero', local: 'connect', why: 'a new connect replaces the peer' } },
      ],
      shutdown: shutdownRule(false),
      send: sendToPeer,
      sendto: sendtoBound,
      recv: recvRule,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerSend: { why: 'the datagram is queued' },
      strangerSend: { why: 'dropped: a connected socket only receives from its peer' },
      peerClose: { why: 'the next send draws port-unreachable' },
    },
    closed: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: badf, listen: badf, accept: badf, connect: badf, shutdown: badf, send: badf, sendto: badf, recv: badf,
      getsockname: badf, getpeername: badf, soError: badf, close: badf,
      peerSend: { impossible: 'the socket is gone' },
      strangerSend: { impossible: 'the socket is gone' },
      peerClose: { impossible: 'the socket is gone' },
    },
  },
});
