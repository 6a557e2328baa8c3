/**
 * SOCK_STREAM (TCP) over AF_INET and AF_INET6, as Linux behaves.
 *
 * The phases follow what a program can observe:
 *
 *   socket → fresh ─bind→ bound ─listen→ listening ─accept→ (new connected fd)
 *   fresh/bound ─connect→ connected | connecting (no answer yet) | failed (refused)
 *   connected ─shutdown→ rdShut / wrShut / bothShut;  ─peer FIN→ peerClosed
 *   any connected phase ─peer RST→ reset;  connect(AF_UNSPEC) → back to fresh/bound
 *   all directions closed → finished;  close → closed
 *
 * Quirks kept on purpose (measured with the verifier, see docs/spec-language.md):
 * shutdown() on an unconnected socket fails with ENOTCONN but Linux still records
 * it; a non-blocking connect that already completed makes the next connect()
 * return 0 once; a failed connect leaves the stale port visible to getsockname.
 */
import { defineMachine, under, type Outcome, type Rule } from '../language/machine.ts';
import { badf, epipe, ERROR_MEMORY, errIfPending, failPending, reportError, waits } from './common.ts';

type S =
  | 'none'
  | 'fresh'
  | 'bound'
  | 'listening'
  | 'connecting'
  | 'connected'
  | 'rdShut'
  | 'wrShut'
  | 'bothShut'
  | 'peerClosed'
  | 'finished'
  | 'reset'
  | 'failed'
  | 'closed';
type K =
  | 'nonblocking'
  | 'readable'
  | 'writable'
  | 'pending'
  | 'target'
  | 'port'
  | 'how'
  | 'recvMode'
  | 'nosignal'
  | 'peerUnread'
  | 'peerGone';
type F = 'error' | 'bindLocked' | 'unconfirmed' | 'shutRdEarly' | 'shutWrEarly' | 'finReceived';
type C =
  | 'socket'
  | 'bind'
  | 'listen'
  | 'accept'
  | 'connect'
  | 'shutdown'
  | 'send'
  | 'recv'
  | 'getsockname'
  | 'getpeername'
  | 'soError'
  | 'close'
  | 'peerConnect'
  | 'peerSend'
  | 'peerShutWr'
  | 'peerClose'
  | 'peerReset'
  | 'fill'
  | 'drain';
type O = Outcome<S, F>;
type R = Rule<S, K | F, F>;

const DATA = ['some', 'enough'] as const;

/** Where a connection dissolved by the kernel (tcp_disconnect) leaves the socket: bound only if bind() locked the port. */
function disconnected(extra: O = {}): R {
  return [
    { when: { bindLocked: true }, then: { ...extra, to: 'bound', local: 'disconnect' } },
    { when: {}, then: { ...extra, to: 'fresh', local: 'disconnect' } },
  ];
}

/**
 * A connect that reached a listener: blocking returns 0; non-blocking returns
 * EINPROGRESS although the handshake already finished (Linux answers before
 * processing the SYN-ACK), so the next connect() returns 0 once.
 * A shutdown() recorded before connecting takes effect now.
 */
function established(blocking: boolean): R {
  const o: O = blocking
    ? { returns: 'zero', local: 'connect' }
    : { fails: 'EINPROGRESS', local: 'connect', set: { unconfirmed: true } };
  const done = { shutRdEarly: false, shutWrEarly: false } as const;
  return [
    { when: { shutRdEarly: true, shutWrEarly: true }, then: { ...o, to: 'bothShut', set: { ...o.set, ...done } } },
    { when: { shutRdEarly: true }, then: { ...o, to: 'rdShut', set: { ...o.set, ...done } } },
    { when: { shutWrEarly: true }, then: { ...o, to: 'wrShut', set: { ...o.set, ...done } } },
    { when: {}, then: { ...o, to: 'connected' } },
  ];
}

/** connect() on a socket with no connection (fresh or bound), by what the address leads to. */
function connectUnconnected(): R {
  return [
    {
      when: { target: 'unspec' },
      then: { returns: 'zero', set: { shutRdEarly: false, shutWrEarly: false }, why: 'AF_UNSPEC on a closed socket: tcp_disconnect has nothing to do' },
    },
    ...under({ target: 'listener', nonblocking: true }, established(false)),
    ...under({ target: 'listener' }, established(true)),
    { when: { target: 'full', nonblocking: true }, then: { fails: 'EINPROGRESS', to: 'connecting', local: 'connect' } },
    {
      when: { target: 'full' },
      then: { blocks: true, to: 'connecting', local: 'connect', why: 'the SYN is dropped while the accept queue is full' },
    },
    {
      when: { target: 'nobody', nonblocking: true },
      then: {
        fails: 'EINPROGRESS',
        to: 'failed',
        local: 'connect',
        set: { error: 'ECONNREFUSED', shutRdEarly: false, shutWrEarly: false },
        why: 'the RST arrives before connect() returns, but the answer was already chosen',
      },
    },
    {
      when: { target: 'nobody', bindLocked: true },
      then: { fails: 'ECONNREFUSED', to: 'bound', local: 'disconnect', set: { shutRdEarly: false, shutWrEarly: false } },
    },
    {
      when: { target: 'nobody' },
      then: {
        fails: 'ECONNREFUSED',
        to: 'fresh',
        local: 'disconnect',
        set: { shutRdEarly: false, shutWrEarly: false },
        why: 'the ephemeral port is released but getsockname still shows it',
      },
    },
  ];
}

/** shutdown() where there is no connection: ENOTCONN, yet sk_shutdown keeps the bits (inet_shutdown). */
const shutdownUnconnected: R = [
  { when: { how: 'SHUT_RD' }, then: { fails: 'ENOTCONN', set: { shutRdEarly: true } } },
  { when: { how: 'SHUT_WR' }, then: { fails: 'ENOTCONN', set: { shutWrEarly: true } } },
  { when: {}, then: { fails: 'ENOTCONN', set: { shutRdEarly: true, shutWrEarly: true } } },
];

/** send() where there is no connection: a pending error first, else EPIPE (sk_stream_wait_connect). */
const sendUnconnected: R = [{ when: { error: ['ECONNREFUSED', 'ECONNRESET'] }, then: failPending }, ...epipe<S, F>()];

/** recv() where there is no connection: pending error, or EOF after shutdown(SHUT_RD), or ENOTCONN. */
const recvUnconnected: R = [
  { when: { error: ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] }, then: failPending },
  { when: { shutRdEarly: true }, then: { returns: 'eof' } },
  { when: {}, then: { fails: 'ENOTCONN' } },
];

/** recv() on a connection whose read side is still open. */
const recvOpen: R = [
  { when: { readable: 'enough' }, then: { returns: 'received' } },
  { when: { readable: 'some', recvMode: 'waitall', nonblocking: false }, then: { blocks: true, returns: 'received' } },
  { when: { readable: 'some' }, then: { returns: 'received' } },
  ...waits<S, F>(),
];

/** recv() once no more data can arrive: what is queued, then EOF. */
const recvDrained: R = [
  { when: { readable: DATA }, then: { returns: 'received' } },
  { when: {}, then: { returns: 'eof' } },
];

/** send() on a connection whose write side is open. */
const sendOpen: R = [{ when: { writable: true }, then: { returns: 'sent' } }, ...waits<S, F>()];


/** connect() on an established connection (ESTABLISHED or later, socket still SS_CONNECTED). */
const connectEstablished: R = [
  ...under(
    { target: 'unspec' },
    disconnected({ returns: 'zero', set: { error: 'ECONNRESET', unconfirmed: false }, why: 'tcp_disconnect sends a RST and leaves ECONNRESET pending' }),
  ),
  { when: { unconfirmed: true }, then: { returns: 'zero', set: { unconfirmed: false } } },
  { when: {}, then: { fails: 'EISCONN' } },
];

const eventsWithoutPeer = {
  peerConnect: { impossible: 'nobody can connect to a socket that is not listening' },
  peerSend: { impossible: 'there is no peer' },
  peerShutWr: { impossible: 'there is no peer' },
  peerClose: { impossible: 'there is no peer' },
  peerReset: { impossible: 'there is no peer' },
  fill: { impossible: 'there is no connection to fill' },
  drain: { impossible: 'there is no peer' },
} as const;

/** Peer events while our read side may still receive. */
function peerEventsOpen(onFin: S): Pick<Record<string, R>, 'peerSend' | 'peerShutWr' | 'peerClose' | 'peerReset'> {
  return {
    peerSend: { why: 'the bytes join the receive queue' },
    peerShutWr: { to: onFin, set: { finReceived: true } },
    peerClose: [
      { when: { peerUnread: true }, then: { to: 'reset', set: { error: 'ECONNRESET' }, why: 'closing with unread data sends a RST' } },
      { when: {}, then: { to: onFin, set: { finReceived: true } } },
    ],
    peerReset: { to: 'reset', set: { error: 'ECONNRESET' } },
  };
}

export const stream = defineMachine<S, C, K, F>({
  name: 'stream',
  doc: 'SOCK_STREAM (TCP) over AF_INET and AF_INET6',
  type: 'SOCK_STREAM',
  families: ['AF_INET', 'AF_INET6'],
  initial: 'none',
  states: {
    none: { doc: 'no socket yet', poll: [] },
    fresh: {
      doc: 'created, no port of its own (TCP_CLOSE, SS_UNCONNECTED)',
      poll: ['OUT', 'HUP', { flag: 'IN', when: { shutRdEarly: true } }, { flag: 'RDHUP', when: { shutRdEarly: true } }, errIfPending],
    },
    bound: {
      doc: 'bind() gave it an address and port',
      poll: ['OUT', 'HUP', { flag: 'IN', when: { shutRdEarly: true } }, { flag: 'RDHUP', when: { shutRdEarly: true } }, errIfPending],
    },
    listening: { doc: 'accepting connections (TCP_LISTEN)', poll: [{ flag: 'IN', when: { pending: true } }, errIfPending] },
    connecting: { doc: 'SYN sent, no answer yet (TCP_SYN_SENT)', poll: [errIfPending] },
    connected: { doc: 'established both ways', poll: ['OUT', { flag: 'IN', when: { readable: DATA } }, errIfPending] },
    rdShut: { doc: 'shutdown(SHUT_RD): reads return what is queued, then EOF', poll: ['IN', 'OUT', 'RDHUP', errIfPending] },
    wrShut: {
      doc: 'shutdown(SHUT_WR): FIN sent, reading goes on (FIN_WAIT)',
      poll: ['OUT', { flag: 'IN', when: { readable: DATA } }, errIfPending],
    },
    bothShut: { doc: 'shutdown(SHUT_RDWR)', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    peerClosed: { doc: 'the peer sent FIN; we may still write (CLOSE_WAIT)', poll: ['IN', 'OUT', 'RDHUP', errIfPending] },
    finished: { doc: 'FIN sent and received: nothing more can flow (TIME_WAIT/CLOSE)', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    reset: { doc: 'the peer reset the connection (RST)', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    failed: { doc: 'a non-blocking connect was refused; connect() has not reported it', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    closed: { doc: 'close() released the descriptor', poll: [] },
  },
  conditions: {
    nonblocking: { doc: 'O_NONBLOCK on the file, or MSG_DONTWAIT in the call', source: 'argument' },
    readable: { doc: 'bytes in the receive queue: none, fewer than asked for, or enough', source: 'peer', values: ['none', 'some', 'enough'] },
    writable: { doc: 'the send buffer has room', source: 'peer' },
    pending: { doc: 'a connection waits in the accept queue', source: 'peer' },
    target: {
      doc: 'what the connect address leads to: a listener, a listener whose accept queue is full, nobody, or AF_UNSPEC',
      source: 'peer',
      values: ['listener', 'full', 'nobody', 'unspec'],
    },
    port: {
      doc: 'the port bind() asks for: free, taken by a socket it may not share with, or shared under SO_REUSEADDR',
      source: 'peer',
      values: ['free', 'taken', 'shared'],
    },
    how: { doc: "shutdown's direction", source: 'argument', values: ['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'] },
    recvMode: { doc: 'the receive flag that matters', source: 'argument', values: ['plain', 'peek', 'waitall', 'trunc'] },
    nosignal: { doc: 'MSG_NOSIGNAL', source: 'argument' },
    peerUnread: { doc: 'the peer has not read everything we sent', source: 'peer' },
    peerGone: { doc: 'the peer closed its socket (a write draws a RST)', source: 'peer' },
  },
  memory: {
    error: { doc: 'the pending socket error (sk_err)', values: ERROR_MEMORY },
    bindLocked: { doc: 'bind() chose the port, so a disconnect keeps it (SOCK_BINDPORT_LOCK)' },
    unconfirmed: { doc: 'a non-blocking connect finished but no connect() has reported it (SS_CONNECTING)' },
    shutRdEarly: { doc: 'shutdown(SHUT_RD) before a connection existed' },
    shutWrEarly: { doc: 'shutdown(SHUT_WR) before a connection existed' },
    finReceived: { doc: 'the peer sent FIN (SOCK_DONE): reads end in EOF even after a reset' },
  },
  calls: {
    socket: { doc: 'socket(AF_INET[6], SOCK_STREAM[|SOCK_NONBLOCK], 0)', kind: 'call', depends: ['nonblocking'], via: ['socket'] },
    bind: { doc: 'bind() to loopback or wildcard, a fixed port or 0', kind: 'call', depends: ['port'], via: ['bind'] },
    listen: { doc: 'listen(backlog)', kind: 'call', depends: [], via: ['listen'] },
    accept: { doc: 'accept() or accept4()', kind: 'call', depends: ['nonblocking', 'pending'], via: ['accept', 'accept4'] },
    connect: { doc: 'connect() to an address, or AF_UNSPEC', kind: 'call', depends: ['nonblocking', 'target', 'bindLocked', 'unconfirmed', 'shutRdEarly', 'shutWrEarly'], via: ['connect'] },
    shutdown: { doc: 'shutdown(how)', kind: 'call', depends: ['how'], via: ['shutdown'] },
    send: { doc: 'send/sendto/sendmsg/write/writev', kind: 'call', depends: ['nonblocking', 'writable', 'nosignal', 'error', 'peerGone'], via: ['send', 'sendto', 'sendmsg', 'write', 'writev'] },
    recv: { doc: 'recv/recvfrom/recvmsg/read/readv', kind: 'call', depends: ['nonblocking', 'readable', 'recvMode', 'error', 'shutRdEarly', 'finReceived'], via: ['recv', 'recvfrom', 'recvmsg', 'read', 'readv'] },
    getsockname: { doc: 'getsockname()', kind: 'call', depends: [], via: ['getsockname'], pure: true },
    getpeername: { doc: 'getpeername()', kind: 'call', depends: [], via: ['getpeername'], pure: true },
    soError: { doc: 'getsockopt(SOL_SOCKET, SO_ERROR)', kind: 'call', depends: ['error'], via: ['getsockopt'] },
    close: { doc: 'close()', kind: 'call', depends: [], via: ['close'] },
    peerConnect: { doc: 'a client connects to our listener', kind: 'event', depends: [] },
    peerSend: { doc: 'the peer writes bytes', kind: 'event', depends: [] },
    peerShutWr: { doc: 'the peer calls shutdown(SHUT_WR) (FIN)', kind: 'event', depends: [] },
    peerClose: { doc: 'the peer closes (FIN, or RST if it left our bytes unread)', kind: 'event', depends: ['peerUnread'] },
    peerReset: { doc: 'the peer aborts (SO_LINGER 0, close: RST)', kind: 'event', depends: [] },
    fill: { doc: 'our writes fill the send buffer while the peer reads nothing', kind: 'event', depends: [] },
    drain: { doc: 'the peer reads everything we sent', kind: 'event', depends: [] },
  },
  rules: {
    none: {
      socket: { returns: 'fd', to: 'fresh' },
      bind: badf, listen: badf, accept: badf, connect: badf, shutdown: badf, send: badf, recv: badf,
      getsockname: badf, getpeername: badf, soError: badf, close: badf,
      ...eventsWithoutPeer,
    },
    fresh: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: [
        { when: { port: 'taken' }, then: { fails: 'EADDRINUSE' } },
        { when: {}, then: { returns: 'zero', to: 'bound', local: 'bind', set: { bindLocked: true } } },
      ],
      listen: { returns: 'zero', to: 'listening', local: 'autobind', why: 'listen() binds an ephemeral port (inet_autobind)' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectUnconnected(),
      shutdown: shutdownUnconnected,
      send: sendUnconnected,
      recv: recvUnconnected,
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    bound: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound (inet_bind: inet_num set)' },
      listen: { returns: 'zero', to: 'listening' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectUnconnected(),
      shutdown: shutdownUnconnected,
      send: sendUnconnected,
      recv: recvUnconnected,
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    listening: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { returns: 'zero', why: 'a second listen() only changes the backlog' },
      accept: [{ when: { pending: true }, then: { returns: 'fd' } }, ...waits<S, F>()],
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero', why: 'AF_UNSPEC stops listening and resets queued connections' })),
        { when: {}, then: { fails: 'EISCONN', why: 'inet_stream_connect: SS_UNCONNECTED but sk_state is not TCP_CLOSE' } },
      ],
      shutdown: [
        { when: { how: 'SHUT_WR' }, then: { returns: 'zero', why: 'a listener has nothing to send: it keeps listening' } },
        ...under({}, disconnected({ returns: 'zero', why: 'SHUT_RD stops listening (inet_shutdown → disconnect)' })),
      ],
      send: epipe<S, F>(),
      recv: { fails: 'ENOTCONN' },
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
      peerConnect: { why: 'the connection joins the accept queue' },
    },
    connecting: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'connect() already bound a port' },
      listen: { fails: 'EINVAL', why: 'inet_listen: the socket is SS_CONNECTING' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero', set: { error: 'ECONNRESET' } })),
        { when: { nonblocking: true }, then: { fails: 'EALREADY' } },
        { when: {}, then: { blocks: true } },
      ],
      shutdown: disconnected({ returns: 'zero', set: { error: 'ECONNRESET' }, why: 'shutdown() in SYN_SENT aborts the attempt' }),
      send: waits<S, F>(),
      recv: waits<S, F>(),
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    connected: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectEstablished,
      shutdown: [
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero', to: 'rdShut', set: { unconfirmed: false } } },
        { when: { how: 'SHUT_WR' }, then: { returns: 'zero', to: 'wrShut', set: { unconfirmed: false } } },
        { when: {}, then: { returns: 'zero', to: 'bothShut', set: { unconfirmed: false } } },
      ],
      send: sendOpen,
      recv: recvOpen,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('peerClosed'),
      fill: { why: 'the send buffer is full' },
      drain: { why: 'the send buffer has room again' },
    },
    rdShut: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectEstablished,
      shutdown: [
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'bothShut' } },
      ],
      send: sendOpen,
      recv: recvDrained,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('peerClosed'),
      fill: { why: 'the send buffer is full' },
      drain: { why: 'the send buffer has room again' },
    },
    wrShut: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectEstablished,
      shutdown: [
        { when: { how: 'SHUT_WR' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'bothShut' } },
      ],
      send: epipe<S, F>(),
      recv: recvOpen,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('finished'),
      fill: { impossible: 'nothing more can be written' },
      drain: { why: 'the peer reads what we sent before the FIN' },
    },
    bothShut: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectEstablished,
      shutdown: { returns: 'zero' },
      send: epipe<S, F>(),
      recv: recvDrained,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('finished'),
      fill: { impossible: 'nothing more can be written' },
      drain: { why: 'the peer reads what we sent before the FIN' },
    },
    peerClosed: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: connectEstablished,
      shutdown: [
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'finished', why: 'our FIN completes the close (LAST_ACK → CLOSE)' } },
      ],
      send: [
        { when: { peerGone: true, writable: true }, then: { returns: 'sent', to: 'reset', set: { error: 'EPIPE' }, why: 'the closed peer answers with a RST; in CLOSE_WAIT that leaves EPIPE pending' } },
        ...under({}, sendOpen),
      ],
      recv: recvDrained,
      getsockname: { returns: 'sockname' },
      getpeername: { returns: 'peername' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      peerConnect: eventsWithoutPeer.peerConnect,
      peerSend: { impossible: 'the peer shut down its sending side' },
      peerShutWr: { impossible: 'the peer already sent FIN' },
      peerClose: [
        { when: { peerGone: true }, then: { impossible: 'the peer is already closed' } },
        { when: { peerUnread: true }, then: { to: 'reset', set: { error: 'ECONNRESET' } } },
        { when: {}, then: { why: 'the peer had already sent FIN' } },
      ],
      peerReset: { to: 'reset', set: { error: 'ECONNRESET' } },
      fill: { why: 'the send buffer is full' },
      drain: { why: 'the send buffer has room again' },
    },
    finished: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero' })),
        { when: {}, then: { fails: 'EISCONN', why: 'the socket is still SS_CONNECTED' } },
      ],
      shutdown: { fails: 'ENOTCONN', why: 'the connection is gone (TCP_CLOSE)' },
      send: epipe<S, F>(),
      recv: recvDrained,
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN', why: 'TCP_CLOSE has no peer' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    reset: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero' })),
        { when: {}, then: { fails: 'EISCONN', why: 'the socket is still SS_CONNECTED' } },
      ],
      shutdown: { fails: 'ENOTCONN', why: 'the connection is gone (TCP_CLOSE)' },
      send: [
        { when: { error: 'EPIPE', nosignal: false }, then: { ...failPending, raises: 'SIGPIPE' } },
        { when: { error: ['ECONNRESET', 'EPIPE', 'ECONNREFUSED'] }, then: failPending },
        ...epipe<S, F>(),
      ],
      recv: [
        { when: { readable: DATA }, then: { returns: 'received', why: 'queued bytes are still delivered' } },
        { when: { finReceived: true }, then: { returns: 'eof', why: 'SOCK_DONE: the FIN came before the RST' } },
        { when: { error: ['ECONNRESET', 'EPIPE', 'ECONNREFUSED'] }, then: failPending },
        { when: {}, then: { returns: 'eof' } },
      ],
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN', why: 'TCP_CLOSE has no peer' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    failed: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: { returns: 'zero', to: 'bound', local: 'bind', set: { bindLocked: true }, why: 'the failed attempt released its port' },
      listen: { fails: 'EINVAL', why: 'inet_listen: the socket is still SS_CONNECTING' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero' })),
        ...under({ error: ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] }, disconnected(failPending)),
        ...under({}, disconnected({ fails: 'ECONNABORTED', why: 'the error was already reported: sock_error() is 0' })),
      ],
      shutdown: { fails: 'ENOTCONN', why: 'TCP_CLOSE' },
      send: [{ when: { error: ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] }, then: failPending }, ...epipe<S, F>()],
      recv: [{ when: { error: ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] }, then: failPending }, { when: {}, then: { returns: 'eof' } }],
      getsockname: { returns: 'sockname' },
      getpeername: { fails: 'ENOTCONN' },
      soError: reportError,
      close: { returns: 'zero', to: 'closed' },
      ...eventsWithoutPeer,
    },
    closed: {
      socket: { impossible: 'socket() makes a new socket' },
      bind: badf, listen: badf, accept: badf, connect: badf, shutdown: badf, send: badf, recv: badf,
      getsockname: badf, getpeername: badf, soError: badf, close: badf,
      ...eventsWithoutPeer,
    },
  },
});
