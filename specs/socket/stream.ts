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
  | 'portTimeWait'
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
const PENDING = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] as const;

/**
 * Where a connection dissolved by the kernel (tcp_disconnect) leaves the socket:
 * bound only if bind() locked the port.  The shutdown bits are cleared.
 */
function disconnected(extra: O = {}): R {
  const set = { ...extra.set, shutRdEarly: false, shutWrEarly: false, finReceived: false };
  return [
    { when: { bindLocked: true }, then: { ...extra, set, to: 'bound', local: 'disconnect' } },
    { when: {}, then: { ...extra, set, to: 'fresh', local: 'disconnect' } },
  ];
}

/** connect() on an unconnected socket, by what the address leads to.  A new attempt clears the pending error. */
const connectUnconnected: R = [
  {
    when: { target: 'unspec' },
    then: { returns: 'zero', set: { shutRdEarly: false, shutWrEarly: false }, why: 'AF_UNSPEC on a closed socket: tcp_disconnect has nothing to do' },
  },
  { when: { target: 'unreachable' }, then: { fails: 'ENETUNREACH', why: 'no route from the bound address to the target' } },
  {
    when: { target: 'listener', nonblocking: true },
    then: {
      fails: 'EINPROGRESS',
      to: 'connected',
      local: 'connect',
      set: { unconfirmed: true, error: 'none' },
      why: 'on loopback the handshake finishes before connect() returns, but the answer was already chosen',
    },
  },
  { when: { target: 'listener' }, then: { returns: 'zero', to: 'connected', local: 'connect', set: { error: 'none' } } },
  { when: { target: 'full', nonblocking: true }, then: { fails: 'EINPROGRESS', to: 'connecting', local: 'connect', set: { error: 'none' } } },
  {
    when: { target: 'full' },
    then: { blocks: true, to: 'connecting', local: 'connect', set: { error: 'none' }, why: 'the SYN is dropped while the accept queue is full' },
  },
  {
    when: { target: 'nobody', nonblocking: true },
    then: { fails: 'EINPROGRESS', to: 'failed', local: 'connect', set: { error: 'ECONNREFUSED' }, why: 'the RST arrives before connect() returns' },
  },
  ...under(
    { target: 'nobody' },
    disconnected({ fails: 'ECONNREFUSED', local: 'refused', set: { error: 'none' }, why: 'the port is released but getsockname still shows it' }),
  ).map((c) => ({ ...c, then: { ...c.then, local: 'refused' as const } })),
];

/** shutdown() where there is no connection: ENOTCONN, yet sk_shutdown keeps the bits (inet_shutdown). */
const shutdownUnconnected: R = [
  { when: { how: 'SHUT_RD' }, then: { fails: 'ENOTCONN', set: { shutRdEarly: true } } },
  { when: { how: 'SHUT_WR' }, then: { fails: 'ENOTCONN', set: { shutWrEarly: true } } },
  { when: {}, then: { fails: 'ENOTCONN', set: { shutRdEarly: true, shutWrEarly: true } } },
];

/** A pending error reported by send(); an EPIPE raises SIGPIPE like any other (sk_stream_error). */
const sendPendingError: R = [
  { when: { error: 'EPIPE', nosignal: false }, then: { ...failPending, raises: 'SIGPIPE' } },
  { when: { error: PENDING }, then: failPending },
];

/** send() where there is no connection: a pending error first, else EPIPE (sk_stream_wait_connect). */
const sendUnconnected: R = [...under({}, sendPendingError), ...epipe<S, F>()];

/** recv() where there is no connection: pending error, or EOF after shutdown(SHUT_RD), or ENOTCONN. */
const recvUnconnected: R = [
  { when: { error: PENDING }, then: failPending },
  { when: { shutRdEarly: true }, then: { returns: 'eof' } },
  { when: {}, then: { fails: 'ENOTCONN' } },
];

/** recv() on an established connection; a shutdown(SHUT_RD) recorded before connecting ends it at EOF. */
const recvOpen: R = [
  { when: { readable: 'enough' }, then: { returns: 'received' } },
  { when: { readable: 'some', shutRdEarly: true }, then: { returns: 'received' } },
  { when: { readable: 'some', recvMode: 'waitall', nonblocking: false }, then: { blocks: true, returns: 'received' } },
  { when: { readable: 'some' }, then: { returns: 'received' } },
  { when: { shutRdEarly: true }, then: { returns: 'eof' } },
  ...waits<S, F>(),
];

/** recv() once no more data can arrive: what is queued, then EOF. */
const recvDrained: R = [
  { when: { readable: DATA }, then: { returns: 'received' } },
  { when: {}, then: { returns: 'eof' } },
];

/** send() with room in the buffer, or waiting for it. */
const sendWritable: R = [{ when: { writable: true }, then: { returns: 'sent' } }, ...waits<S, F>()];

/** send() on a connection whose write side is open (a shutdown(SHUT_WR) recorded before connecting closes it). */
const sendOpen: R = [...under({ shutWrEarly: true }, epipe<S, F>()), ...under({}, sendWritable)];

/** connect() on a connection that exists or existed (the socket is SS_CONNECTED, or SS_CONNECTING if unconfirmed). */
function connectEstablished(live: boolean): R {
  return [
    ...under(
      { target: 'unspec' },
      disconnected({
        returns: 'zero',
        set: live ? { error: 'ECONNRESET', unconfirmed: false } : { unconfirmed: false },
        ...(live ? { why: 'tcp_disconnect sends a RST and leaves ECONNRESET pending' } : {}),
      }),
    ),
    ...(live
      ? [{ when: { unconfirmed: true }, then: { returns: 'zero', set: { unconfirmed: false } } } as const]
      : [
          // A non-blocking connect whose connection died unseen: connect() reports it (inet_stream_connect's sock_error path).
          ...under({ unconfirmed: true, error: PENDING }, disconnected({ ...failPending, set: { error: 'none', unconfirmed: false } })),
          ...under({ unconfirmed: true }, disconnected({ fails: 'ECONNABORTED', set: { unconfirmed: false } })),
        ]),
    { when: {}, then: { fails: 'EISCONN', why: 'the socket is still SS_CONNECTED' } },
  ];
}

/** bind() after the connection is gone: tcp_done released a port that bind() did not lock. */
const bindAfterClose: R = [
  { when: { bindLocked: true }, then: { fails: 'EINVAL', why: 'bind() chose the port, so it is still held' } },
  { when: { port: 'taken' }, then: { fails: 'EADDRINUSE', local: 'disconnect', why: 'inet_bind resets the address it had already set' } },
  { when: {}, then: { returns: 'zero', local: 'bind', set: { bindLocked: true }, why: 'the connection released its ephemeral port' } },
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

/**
 * Peer events while our side is ESTABLISHED or FIN_WAIT.  `onFin` is where the
 * peer's FIN takes us; a RST leaves ECONNRESET pending.
 */
function peerEventsOpen(onFin: S, dataAfterShutRd: 'accepted' | 'reset'): Pick<Record<C, R>, 'peerSend' | 'peerShutWr' | 'peerClose' | 'peerReset'> {
  return {
    peerSend:
      dataAfterShutRd === 'accepted'
        ? { why: 'the bytes join the receive queue' }
        : { to: 'reset', set: { error: 'ECONNRESET' }, why: 'data after shutdown(SHUT_RD) in FIN_WAIT is answered with a RST (tcp_rcv_state_process)' },
    peerShutWr: { to: onFin, set: { finReceived: true } },
    peerClose: [
      { when: { peerUnread: true }, then: { to: 'reset', set: { error: 'ECONNRESET' }, why: 'closing with unread data sends a RST' } },
      { when: {}, then: { to: onFin, set: { finReceived: true } } },
    ],
    peerReset: { to: 'reset', set: { error: 'ECONNRESET' } },
  };
}

const common = {
  socket: { impossible: 'socket() makes a new socket' },
  getsockname: { returns: 'sockname' },
  soError: reportError,
  close: { returns: 'zero', to: 'closed' },
} as const;

/** The rows of the phases that have no connection: fresh and bound differ only in bind and listen. */
const unconnected = {
  ...common,
  accept: { fails: 'EINVAL', why: 'not listening' },
  connect: connectUnconnected,
  shutdown: shutdownUnconnected,
  send: sendUnconnected,
  recv: recvUnconnected,
  getpeername: { fails: 'ENOTCONN' },
  ...eventsWithoutPeer,
} as const;

/** Calls that fail the same way in every phase after connect(). */
const connectedSetup = {
  ...common,
  bind: { fails: 'EINVAL', why: 'connect() gave it a port' },
  listen: { fails: 'EINVAL', why: 'inet_listen: not SS_UNCONNECTED' },
  accept: { fails: 'EINVAL', why: 'not listening' },
} as const;

const writableOut = { flag: 'OUT', when: { writable: true } } as const;
const earlyRd = [{ flag: 'IN', when: { shutRdEarly: true } }, { flag: 'RDHUP', when: { shutRdEarly: true } }] as const;

export const stream = defineMachine<S, C, K, F>({
  name: 'stream',
  doc: 'SOCK_STREAM (TCP) over AF_INET and AF_INET6',
  type: 'SOCK_STREAM',
  families: ['AF_INET', 'AF_INET6'],
  initial: 'none',
  states: {
    none: { doc: 'no socket yet', poll: ['NVAL'] },
    fresh: { doc: 'created, no port of its own (TCP_CLOSE, SS_UNCONNECTED)', poll: ['OUT', 'HUP', ...earlyRd, errIfPending] },
    bound: { doc: 'bind() gave it an address and port', poll: ['OUT', 'HUP', ...earlyRd, errIfPending] },
    listening: {
      doc: 'accepting connections (TCP_LISTEN); poll shows only the accept queue, never a pending error',
      poll: [{ flag: 'IN', when: { pending: true } }],
    },
    connecting: {
      doc: 'SYN sent, no answer yet (TCP_SYN_SENT)',
      poll: [...earlyRd, { flag: 'HUP', when: { shutRdEarly: true, shutWrEarly: true } }, errIfPending],
    },
    connected: {
      doc: 'established both ways (a shutdown recorded before connecting still applies)',
      poll: [
        writableOut,
        { flag: 'OUT', when: { shutWrEarly: true } },
        { flag: 'IN', when: { readable: DATA } },
        ...earlyRd,
        { flag: 'HUP', when: { shutRdEarly: true, shutWrEarly: true } },
        errIfPending,
      ],
    },
    rdShut: { doc: 'shutdown(SHUT_RD): reads return what is queued, then EOF', poll: ['IN', writableOut, 'RDHUP', errIfPending] },
    wrShut: {
      doc: 'shutdown(SHUT_WR): FIN sent, reading goes on (FIN_WAIT)',
      poll: ['OUT', { flag: 'IN', when: { readable: DATA } }, errIfPending],
    },
    bothShut: { doc: 'shutdown(SHUT_RDWR)', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    peerClosed: {
      doc: 'the peer sent FIN; we may still write (CLOSE_WAIT)',
      poll: ['IN', writableOut, { flag: 'OUT', when: { shutWrEarly: true } }, 'RDHUP', { flag: 'HUP', when: { shutWrEarly: true } }, errIfPending],
    },
    finished: { doc: 'FIN sent and received: nothing more can flow (TCP_CLOSE)', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    reset: { doc: 'the peer reset the connection (RST): TCP_CLOSE, still SS_CONNECTED', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    failed: { doc: 'a non-blocking connect was refused; connect() has not reported it', poll: ['IN', 'OUT', 'HUP', 'RDHUP', errIfPending] },
    closed: { doc: 'close() released the descriptor', poll: ['NVAL'] },
  },
  conditions: {
    nonblocking: { doc: 'O_NONBLOCK on the file, or MSG_DONTWAIT in the call', source: 'argument' },
    readable: { doc: 'bytes in the receive queue: none, fewer than asked for, or enough', source: 'peer', values: ['none', 'some', 'enough'] },
    writable: { doc: 'the send buffer has room', source: 'peer' },
    pending: { doc: 'a connection waits in the accept queue', source: 'peer' },
    target: {
      doc: 'what the connect address leads to: a listener, a listener whose accept queue is full, nobody, an address the bound address cannot reach, or AF_UNSPEC',
      source: 'peer',
      values: ['listener', 'full', 'nobody', 'unreachable', 'unspec'],
    },
    port: {
      doc: 'the port bind() asks for: free, taken by a socket it may not share with, or shared under SO_REUSEADDR',
      source: 'peer',
      values: ['free', 'taken', 'shared'],
    },
    portTimeWait: { doc: 'an earlier connection of ours on this port is in TIME_WAIT', source: 'peer' },
    how: { doc: "shutdown's direction", source: 'argument', values: ['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'] },
    recvMode: { doc: 'the receive flag that matters', source: 'argument', values: ['plain', 'peek', 'waitall', 'trunc'] },
    nosignal: { doc: 'MSG_NOSIGNAL', source: 'argument' },
    peerUnread: { doc: 'the peer has not read everything we sent', source: 'peer' },
    peerGone: { doc: 'the peer closed its socket (a write draws a RST)', source: 'peer' },
  },
  memory: {
    error: { doc: 'the pending socket error (sk_err)', values: ERROR_MEMORY },
    bindLocked: { doc: 'bind() chose the port, so a disconnect keeps it (SOCK_BINDPORT_LOCK; an accepted socket has no lock of its own)' },
    unconfirmed: { doc: 'a non-blocking connect finished but no connect() has reported it (SS_CONNECTING)' },
    shutRdEarly: { doc: 'shutdown(SHUT_RD) recorded while not connected (sk_shutdown): applies once connected' },
    shutWrEarly: { doc: 'shutdown(SHUT_WR) recorded while not connected: no FIN was ever sent' },
    finReceived: { doc: 'the peer sent FIN (SOCK_DONE): reads end in EOF even after a reset' },
  },
  calls: {
    socket: { doc: 'socket(AF_INET[6], SOCK_STREAM[|SOCK_NONBLOCK], 0)', kind: 'call', depends: ['nonblocking'], via: ['socket'] },
    bind: { doc: 'bind() to loopback or wildcard, a fixed port or 0', kind: 'call', depends: ['port', 'bindLocked'], via: ['bind'] },
    listen: { doc: 'listen(backlog)', kind: 'call', depends: ['portTimeWait'], via: ['listen'] },
    accept: { doc: 'accept() or accept4()', kind: 'call', depends: ['nonblocking', 'pending'], via: ['accept', 'accept4'] },
    connect: {
      doc: 'connect() to an address, or AF_UNSPEC',
      kind: 'call',
      depends: ['nonblocking', 'target', 'error', 'bindLocked', 'unconfirmed'],
      via: ['connect'],
    },
    shutdown: { doc: 'shutdown(how)', kind: 'call', depends: ['how', 'bindLocked', 'shutRdEarly', 'shutWrEarly'], via: ['shutdown'] },
    send: {
      doc: 'send/sendto/sendmsg/write/writev',
      kind: 'call',
      depends: ['nonblocking', 'writable', 'nosignal', 'error', 'peerGone', 'shutWrEarly'],
      via: ['send', 'sendto', 'sendmsg', 'write', 'writev'],
    },
    recv: {
      doc: 'recv/recvfrom/recvmsg/read/readv',
      kind: 'call',
      depends: ['nonblocking', 'readable', 'recvMode', 'error', 'shutRdEarly', 'finReceived'],
      via: ['recv', 'recvfrom', 'recvmsg', 'read', 'readv'],
    },
    getsockname: { doc: 'getsockname()', kind: 'call', depends: [], via: ['getsockname'], pure: true },
    getpeername: { doc: 'getpeername()', kind: 'call', depends: [], via: ['getpeername'], pure: true },
    soError: { doc: 'getsockopt(SOL_SOCKET, SO_ERROR)', kind: 'call', depends: ['error'], via: ['getsockopt'] },
    close: { doc: 'close()', kind: 'call', depends: [], via: ['close'] },
    peerConnect: { doc: 'a client connects to our listener', kind: 'event', depends: [] },
    peerSend: { doc: 'the peer writes bytes', kind: 'event', depends: [] },
    peerShutWr: { doc: 'the peer calls shutdown(SHUT_WR) (FIN)', kind: 'event', depends: [] },
    peerClose: { doc: 'the peer closes (FIN, or RST if it left our bytes unread)', kind: 'event', depends: ['peerUnread', 'peerGone'] },
    peerReset: { doc: 'the peer aborts (SO_LINGER 0, close: RST)', kind: 'event', depends: [] },
    fill: { doc: 'our writes fill the send buffer while the peer reads nothing', kind: 'event', depends: ['shutWrEarly'] },
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
      ...unconnected,
      bind: [
        { when: { port: 'taken' }, then: { fails: 'EADDRINUSE' } },
        { when: {}, then: { returns: 'zero', to: 'bound', local: 'bind', set: { bindLocked: true } } },
      ],
      listen: { returns: 'zero', to: 'listening', local: 'autobind', why: 'listen() binds an ephemeral port (inet_autobind)' },
    },
    bound: {
      ...unconnected,
      bind: { fails: 'EINVAL', why: 'already bound (inet_bind: inet_num set)' },
      listen: [
        { when: { portTimeWait: true }, then: { fails: 'EADDRINUSE', why: 'our own TIME_WAIT connection still holds the port' } },
        { when: {}, then: { returns: 'zero', to: 'listening' } },
      ],
    },
    listening: {
      ...common,
      bind: { fails: 'EINVAL', why: 'already bound' },
      listen: { returns: 'zero', why: 'a second listen() only changes the backlog' },
      accept: [{ when: { pending: true }, then: { returns: 'fd', spawns: 'connected', why: 'the new socket is established; the listener keeps listening' } }, ...waits<S, F>()],
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero', why: 'AF_UNSPEC stops listening and resets queued connections' })),
        { when: {}, then: { fails: 'EISCONN', why: 'inet_stream_connect: SS_UNCONNECTED but sk_state is not TCP_CLOSE' } },
      ],
      shutdown: [
        { when: { how: 'SHUT_WR' }, then: { returns: 'zero', why: 'a listener has nothing to send: it keeps listening' } },
        ...under({}, disconnected({ returns: 'zero', why: 'SHUT_RD stops listening (inet_shutdown → disconnect)' })),
      ],
      send: sendUnconnected,
      recv: { fails: 'ENOTCONN' },
      getpeername: { fails: 'ENOTCONN' },
      ...eventsWithoutPeer,
      peerConnect: { why: 'the connection joins the accept queue' },
    },
    connecting: {
      ...common,
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
      recv: [{ when: { shutRdEarly: true }, then: { returns: 'eof', why: 'RCV_SHUTDOWN is checked before the state' } }, ...waits<S, F>()],
      getpeername: { fails: 'ENOTCONN' },
      ...eventsWithoutPeer,
    },
    connected: {
      ...connectedSetup,
      connect: connectEstablished(true),
      shutdown: [
        { when: { how: 'SHUT_RD', shutWrEarly: true }, then: { returns: 'zero', set: { shutRdEarly: true, unconfirmed: false }, why: 'no FIN was sent: both bits, still established' } },
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero', to: 'rdShut', set: { unconfirmed: false } } },
        { when: { how: 'SHUT_WR', shutRdEarly: false }, then: { returns: 'zero', to: 'wrShut', set: { unconfirmed: false, shutWrEarly: false } } },
        { when: {}, then: { returns: 'zero', to: 'bothShut', set: { unconfirmed: false, shutRdEarly: false, shutWrEarly: false } } },
      ],
      send: sendOpen,
      recv: recvOpen,
      getpeername: { returns: 'peername' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('peerClosed', 'accepted'),
      fill: [{ when: { shutWrEarly: true }, then: { impossible: 'nothing can be written' } }, { when: {}, then: { why: 'the send buffer is full' } }],
      drain: { why: 'the send buffer has room again' },
    },
    rdShut: {
      ...connectedSetup,
      connect: connectEstablished(true),
      shutdown: [
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'bothShut' } },
      ],
      send: sendOpen,
      recv: recvDrained,
      getpeername: { returns: 'peername' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('peerClosed', 'accepted'),
      fill: { why: 'the send buffer is full' },
      drain: { why: 'the send buffer has room again' },
    },
    wrShut: {
      ...connectedSetup,
      connect: connectEstablished(true),
      shutdown: [
        { when: { how: 'SHUT_WR' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'bothShut' } },
      ],
      send: epipe<S, F>(),
      recv: recvOpen,
      getpeername: { returns: 'peername' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('finished', 'accepted'),
      fill: { impossible: 'nothing more can be written' },
      drain: { why: 'the peer reads what we sent before the FIN' },
    },
    bothShut: {
      ...connectedSetup,
      connect: connectEstablished(true),
      shutdown: { returns: 'zero' },
      send: epipe<S, F>(),
      recv: recvDrained,
      getpeername: { returns: 'peername' },
      peerConnect: eventsWithoutPeer.peerConnect,
      ...peerEventsOpen('finished', 'reset'),
      fill: { impossible: 'nothing more can be written' },
      drain: { why: 'the peer reads what we sent before the FIN' },
    },
    peerClosed: {
      ...connectedSetup,
      connect: connectEstablished(true),
      shutdown: [
        { when: { how: 'SHUT_RD' }, then: { returns: 'zero' } },
        { when: {}, then: { returns: 'zero', to: 'finished', set: { unconfirmed: false, shutWrEarly: false }, why: 'our FIN completes the close (LAST_ACK → CLOSE)' } },
      ],
      send: [
        ...under({ shutWrEarly: true }, epipe<S, F>()),
        {
          when: { peerGone: true, writable: true },
          then: { returns: 'sent', to: 'reset', set: { error: 'EPIPE' }, why: 'the closed peer answers with a RST; in CLOSE_WAIT that leaves EPIPE pending' },
        },
        ...under({}, sendWritable),
      ],
      recv: recvDrained,
      getpeername: { returns: 'peername' },
      peerConnect: eventsWithoutPeer.peerConnect,
      peerSend: { impossible: 'the peer shut down its sending side' },
      peerShutWr: { impossible: 'the peer already sent FIN' },
      peerClose: [
        { when: { peerGone: true }, then: { impossible: 'the peer is already closed' } },
        { when: { peerUnread: true }, then: { to: 'reset', set: { error: 'EPIPE' }, why: 'a RST in CLOSE_WAIT leaves EPIPE pending (tcp_reset)' } },
        { when: {}, then: { why: 'the peer had already sent FIN' } },
      ],
      peerReset: { to: 'reset', set: { error: 'EPIPE' }, why: 'a RST in CLOSE_WAIT leaves EPIPE pending (tcp_reset)' },
      fill: [{ when: { shutWrEarly: true }, then: { impossible: 'nothing can be written' } }, { when: {}, then: { why: 'the send buffer is full' } }],
      drain: { why: 'the send buffer has room again' },
    },
    finished: {
      ...connectedSetup,
      bind: bindAfterClose,
      connect: connectEstablished(false),
      shutdown: { fails: 'ENOTCONN', why: 'the connection is gone (TCP_CLOSE)' },
      send: epipe<S, F>(),
      recv: recvDrained,
      getpeername: { fails: 'ENOTCONN', why: 'TCP_CLOSE has no peer' },
      ...eventsWithoutPeer,
    },
    reset: {
      ...connectedSetup,
      bind: bindAfterClose,
      connect: connectEstablished(false),
      shutdown: { fails: 'ENOTCONN', why: 'the connection is gone (TCP_CLOSE)' },
      send: sendUnconnected,
      recv: [
        { when: { readable: DATA }, then: { returns: 'received', why: 'queued bytes are still delivered' } },
        { when: { finReceived: true }, then: { returns: 'eof', why: 'SOCK_DONE: the FIN came before the RST' } },
        { when: { error: PENDING }, then: failPending },
        { when: {}, then: { returns: 'eof' } },
      ],
      getpeername: { fails: 'ENOTCONN', why: 'TCP_CLOSE has no peer' },
      ...eventsWithoutPeer,
    },
    failed: {
      ...common,
      bind: [
        { when: { bindLocked: true }, then: { fails: 'EINVAL', why: 'bind() chose the port, so it is still held' } },
        { when: { port: 'taken' }, then: { fails: 'EADDRINUSE', local: 'disconnect', why: 'inet_bind resets the address it had already set' } },
        {
          when: {},
          then: {
            returns: 'zero',
            local: 'bind',
            set: { bindLocked: true },
            why: 'the failed attempt released its port; the socket stays SS_CONNECTING until connect() reports the failure',
          },
        },
      ],
      listen: { fails: 'EINVAL', why: 'inet_listen: the socket is still SS_CONNECTING' },
      accept: { fails: 'EINVAL', why: 'not listening' },
      connect: [
        ...under({ target: 'unspec' }, disconnected({ returns: 'zero' })),
        ...under({ error: PENDING }, disconnected({ ...failPending, local: 'refused' })),
        ...under({}, disconnected({ fails: 'ECONNABORTED', local: 'refused', why: 'the error was already reported: sock_error() is 0' })),
      ],
      shutdown: { fails: 'ENOTCONN', why: 'TCP_CLOSE' },
      send: sendUnconnected,
      recv: [{ when: { error: PENDING }, then: failPending }, { when: {}, then: { returns: 'eof' } }],
      getpeername: { fails: 'ENOTCONN' },
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
