/**
 * The operator wire protocol: what the shim inside every program and the
 * switch operator say to each other.  docs/protocol.md explains the framing,
 * how fds travel and how hostile input is handled; this file is the source of
 * its reference tables and of the generated C and TypeScript codecs.
 */
import { defineProtocol } from './language/protocol.ts';

export const protocol = defineProtocol({
  name: 'protocol',
  doc:
    'Shim <-> switch operator messages over the tenant\'s SOCK_SEQPACKET control socket, ' +
    'plus the accept-queue messages the operator writes to a bound socket\'s port fd.',
  version: 1,
  maxMessageBytes: 512,
  maxFds: 2,
  errorReply: 'error',

  enums: {
    socket_type: {
      doc: 'The socket type a reservation or circuit serves (values are Linux SOCK_*).',
      base: 'u8',
      values: {
        stream: { value: 1, doc: 'SOCK_STREAM: a byte stream over a circuit.' },
        dgram: { value: 2, doc: 'SOCK_DGRAM: datagrams over a circuit, one circuit per peer address.' },
      },
    },
    role: {
      doc: 'Which end of a circuit a process holds: it decides which ring it writes.',
      base: 'u8',
      values: {
        connector: { value: 1, doc: 'The connecting side: writes ring A, reads ring B.' },
        acceptor: { value: 2, doc: 'The accepting side: writes ring B, reads ring A.' },
      },
    },
    shutdown_how: {
      doc: 'The direction shut down (values are Linux SHUT_*).',
      base: 'u8',
      values: {
        rd: { value: 0, doc: 'SHUT_RD' },
        wr: { value: 1, doc: 'SHUT_WR' },
        rdwr: { value: 2, doc: 'SHUT_RDWR' },
      },
    },
  },

  flags: {
    shim_caps: {
      doc: 'What a shim can do; the operator answers with the subset it will use.',
      base: 'u32',
      bits: {
        zero_copy: { bit: 0, doc: 'The program uses the zero-copy API: rings should be page-aligned.' },
        datagrams: { bit: 1, doc: 'The shim runs SOCK_DGRAM sockets over circuits.' },
        inet6: { bit: 2, doc: 'The shim handles AF_INET6 addresses.' },
        async_connect: { bit: 3, doc: 'The shim accepts grants whose connection is still in progress.' },
      },
    },
    bind_options: {
      doc: 'Socket options that decide whether a bind conflicts with an existing reservation.',
      base: 'u8',
      bits: {
        reuse_addr: { bit: 0, doc: 'SO_REUSEADDR was set.' },
        reuse_port: { bit: 1, doc: 'SO_REUSEPORT was set.' },
        v6only: { bit: 2, doc: 'IPV6_V6ONLY was set (an AF_INET6 wildcard then leaves AF_INET free).' },
      },
    },
    connect_options: {
      doc: 'How the program called connect.',
      base: 'u8',
      bits: {
        nonblocking: {
          bit: 0,
          doc: 'The socket is O_NONBLOCK: the operator may grant before a proxied connection is established.',
        },
      },
    },
  },

  structs: {
    geometry: {
      doc:
        'Where things are in a circuit memfd.  Untrusted like everything else: the shim checks it against ' +
        'fstat() and the layout rules before mapping.',
      fields: [
        { name: 'layout', type: 'u16', doc: 'The circuit memory layout version.' },
        { name: 'memfd_bytes', type: 'u64', doc: 'The size of the memfd.' },
        { name: 'ring_a_offset', type: 'u64', doc: 'Offset of ring A (connector to acceptor).' },
        { name: 'ring_a_bytes', type: 'u32', doc: 'Data capacity of ring A, a power of two.' },
        { name: 'ring_b_offset', type: 'u64', doc: 'Offset of ring B (acceptor to connector).' },
        { name: 'ring_b_bytes', type: 'u32', doc: 'Data capacity of ring B, a power of two.' },
      ],
    },
  },

  messages: [
    // -- session ---------------------------------------------------------------------------------
    {
      name: 'hello',
      code: 1,
      route: 'shim-to-operator',
      doc: 'First message on a new control connection: who is speaking and what it can do.',
      replies: ['hello_reply'],
      fields: [
        { name: 'pid', type: 'i32', doc: 'The shim\'s pid, for logs only (the operator trusts SO_PEERCRED).' },
        { name: 'capabilities', type: { flags: 'shim_caps' }, doc: 'What the shim can do.' },
        { name: 'shim_version', type: { string: 32 }, doc: 'The shim\'s build version.' },
        { name: 'program', type: { string: 64 }, doc: 'The program\'s name (comm), for logs.' },
      ],
    },
    {
      name: 'hello_reply',
      code: 2,
      route: 'operator-to-shim',
      doc: 'The operator accepts the session.',
      fields: [
        { name: 'operator_pid', type: 'i32', doc: 'The operator\'s pid.' },
        {
          name: 'instance',
          type: { bytes: 16 },
          doc: 'Random per operator run: reservation and circuit ids mean nothing to another instance.',
        },
        { name: 'capabilities', type: { flags: 'shim_caps' }, doc: 'The subset of the shim\'s capabilities in use.' },
        { name: 'operator_version', type: { string: 32 }, doc: 'The operator\'s build version.' },
        {
          name: 'tenant',
          type: { string: 64 },
          doc: 'The tenant, as the operator knows it from the socket the shim came through.',
        },
      ],
    },
    {
      name: 'ok',
      code: 8,
      route: 'operator-to-shim',
      doc: 'The request succeeded and has nothing to report.',
      fields: [],
    },
    {
      name: 'error',
      code: 9,
      route: 'operator-to-shim',
      doc:
        'The request failed; the shim returns -1 with this errno.  With request id 0: the operator could not ' +
        'parse a message and closes the connection.',
      fields: [
        { name: 'errnum', type: 'errno', doc: 'What the program\'s call fails with.' },
        { name: 'message', type: { string: 200 }, doc: 'Why, for logs and SB_DEBUG output.' },
      ],
    },

    // -- addresses -------------------------------------------------------------------------------
    {
      name: 'bind',
      code: 16,
      route: 'shim-to-operator',
      doc: 'Reserve an address for a socket (bind, or the implicit bind of listen/connect).',
      replies: ['bind_reply'],
      fields: [
        { name: 'socket_type', type: { enum: 'socket_type' }, doc: 'Stream and datagram ports are separate.' },
        { name: 'address', type: 'sockaddr', doc: 'AF_INET or AF_INET6; port 0 asks for an ephemeral port.' },
        { name: 'options', type: { flags: 'bind_options' }, doc: 'Options that decide conflicts.' },
      ],
    },
    {
      name: 'bind_reply',
      code: 17,
      route: 'operator-to-shim',
      doc: 'The address is reserved for as long as any process holds the port fd.',
      fds: [
        {
          name: 'port',
          doc:
            'One end of a SOCK_SEQPACKET pair; the operator keeps the other.  It becomes the program\'s socket ' +
            'fd; after listen, incoming connections arrive on it.',
        },
      ],
      fields: [
        { name: 'reservation', type: 'u64', doc: 'The reservation\'s id within this operator instance.' },
        { name: 'address', type: 'sockaddr', doc: 'The bound address, with the ephemeral port filled in.' },
      ],
    },
    {
      name: 'release',
      code: 18,
      route: 'shim-to-operator',
      doc:
        'The shim closed its port fd; if no process holds it any more, the operator frees the address ' +
        'before replying, so an immediate re-bind succeeds as on Linux.',
      replies: ['ok'],
      fields: [{ name: 'reservation', type: 'u64', doc: 'From bind_reply.' }],
    },
    {
      name: 'listen',
      code: 19,
      route: 'shim-to-operator',
      doc:
        'The reservation accepts connections (streams) or circuits from new peers (datagrams): from now on ' +
        'the operator writes `incoming` to its port fd.  A datagram reservation is answered with its mailbox.',
      replies: ['ok', 'mailbox_reply'],
      fields: [
        { name: 'reservation', type: 'u64', doc: 'From bind_reply.' },
        { name: 'backlog', type: 'u32', doc: 'Pending connections allowed, already clamped to somaxconn by the shim.' },
      ],
    },
    {
      name: 'mailbox_reply',
      code: 21,
      route: 'operator-to-shim',
      doc:
        'A datagram reservation receives circuits from new peers: its mailbox counts the `incoming` messages ' +
        'written to its port fd, so that a receiver learns of a new peer without a system call (and delivers ' +
        'datagrams in the order they were sent across peers).',
      fds: [
        {
          name: 'mailbox',
          doc:
            'A sealed memfd of one page; its first 8 bytes are a counter the operator raises after each ' +
            '`incoming` and before answering the connect that caused it.  The shim maps it read-only.',
        },
      ],
      fields: [],
    },
    {
      name: 'unlisten',
      code: 20,
      route: 'shim-to-operator',
      doc: 'Stop accepting (shutdown or connect(AF_UNSPEC) on a listener); queued connections are reset.',
      replies: ['ok'],
      fields: [{ name: 'reservation', type: 'u64', doc: 'From bind_reply.' }],
    },

    // -- circuits --------------------------------------------------------------------------------
    {
      name: 'connect',
      code: 32,
      route: 'shim-to-operator',
      doc: 'Ask for a circuit to a destination; the operator checks the tenant\'s policy.',
      replies: ['connect_granted'],
      fields: [
        { name: 'socket_type', type: { enum: 'socket_type' }, doc: 'Stream or datagram circuit.' },
        {
          name: 'reservation',
          type: 'u64',
          doc: 'The socket\'s reservation, or 0 when unbound (the operator picks an ephemeral source).',
        },
        { name: 'source', type: 'sockaddr', doc: 'The bound address, or AF_UNSPEC when unbound.' },
        { name: 'destination', type: 'sockaddr', doc: 'Where to connect.' },
        { name: 'options', type: { flags: 'connect_options' }, doc: 'How the program called connect.' },
      ],
    },
    {
      name: 'connect_granted',
      code: 33,
      route: 'operator-to-shim',
      doc: 'The circuit exists; the shim maps the memfd and makes the endpoint the program\'s socket fd.',
      fds: [
        { name: 'memfd', doc: 'The circuit\'s shared memory.' },
        { name: 'endpoint', doc: 'The connector\'s end of the circuit\'s doorbell socket pair.' },
      ],
      fields: [
        { name: 'circuit', type: 'u64', doc: 'The circuit\'s id, for close/shutdown accounting.' },
        { name: 'geometry', type: { struct: 'geometry' }, doc: 'Where the rings are.' },
        { name: 'local', type: 'sockaddr', doc: 'The socket\'s own address (getsockname).' },
        { name: 'peer', type: 'sockaddr', doc: 'The peer\'s address (getpeername).' },
        {
          name: 'in_progress',
          type: 'bool',
          doc:
            'A proxied connection is still being established; its outcome arrives through the circuit, ' +
            'whose peer is the operator\'s proxy.',
        },
      ],
    },
    {
      name: 'incoming',
      code: 34,
      route: 'port',
      doc:
        'A pending connection (or a datagram circuit from a new peer), queued on a listener\'s port fd: ' +
        'it makes the listening fd readable, and exactly one accept() receives it.',
      fds: [
        { name: 'memfd', doc: 'The circuit\'s shared memory.' },
        { name: 'endpoint', doc: 'The acceptor\'s end of the doorbell socket pair: the fd accept() returns.' },
      ],
      fields: [
        { name: 'circuit', type: 'u64', doc: 'The circuit\'s id.' },
        { name: 'socket_type', type: { enum: 'socket_type' }, doc: 'Stream or datagram circuit.' },
        { name: 'geometry', type: { struct: 'geometry' }, doc: 'Where the rings are.' },
        { name: 'local', type: 'sockaddr', doc: 'The accepted socket\'s own address.' },
        { name: 'peer', type: 'sockaddr', doc: 'The connecting peer\'s address (accept\'s addr).' },
      ],
    },
    {
      name: 'claim',
      code: 48,
      route: 'shim-to-operator',
      doc:
        'The fd is the capability: a process that holds an fd it does not know (inherited across exec, ' +
        'received with SCM_RIGHTS) shows it to the operator to learn what it is.',
      replies: ['claim_circuit', 'claim_port'],
      fds: [{ name: 'fd', doc: 'The fd in question; the operator recognises it by its socket inode.' }],
      fields: [],
    },
    {
      name: 'claim_circuit',
      code: 49,
      route: 'operator-to-shim',
      doc: 'The fd is a circuit endpoint; here is the circuit\'s memory.',
      fds: [{ name: 'memfd', doc: 'The circuit\'s shared memory.' }],
      fields: [
        { name: 'circuit', type: 'u64', doc: 'The circuit\'s id.' },
        { name: 'socket_type', type: { enum: 'socket_type' }, doc: 'Stream or datagram circuit.' },
        { name: 'role', type: { enum: 'role' }, doc: 'Which end the claimed fd is.' },
        { name: 'geometry', type: { struct: 'geometry' }, doc: 'Where the rings are.' },
        { name: 'local', type: 'sockaddr', doc: 'This end\'s address.' },
        { name: 'peer', type: 'sockaddr', doc: 'The other end\'s address.' },
      ],
    },
    {
      name: 'claim_port',
      code: 50,
      route: 'operator-to-shim',
      doc: 'The fd is a reservation\'s port fd (a bound or listening socket).',
      fields: [
        { name: 'reservation', type: 'u64', doc: 'The reservation\'s id.' },
        { name: 'socket_type', type: { enum: 'socket_type' }, doc: 'Stream or datagram.' },
        { name: 'address', type: 'sockaddr', doc: 'The bound address.' },
        { name: 'options', type: { flags: 'bind_options' }, doc: 'The options it was bound with.' },
        { name: 'listening', type: 'bool', doc: 'Whether incoming connections arrive on it.' },
        { name: 'backlog', type: 'u32', doc: 'The listen backlog (0 when not listening).' },
      ],
    },

    // -- accounting ------------------------------------------------------------------------------
    {
      name: 'stats_query',
      code: 64,
      route: 'shim-to-operator',
      doc: 'Ask for the tenant\'s counters (the `switchboard stats` command).',
      replies: ['stats_reply'],
      fields: [],
    },
    {
      name: 'stats_reply',
      code: 65,
      route: 'operator-to-shim',
      doc: 'The tenant\'s counters.',
      fields: [
        { name: 'circuits_open', type: 'u32', doc: 'Circuits granted and not yet closed by both ends.' },
        { name: 'circuits_total', type: 'u64', doc: 'Circuits granted since the operator started.' },
        { name: 'listeners', type: 'u32', doc: 'Reservations that are listening.' },
        { name: 'reservations', type: 'u32', doc: 'Reservations held (listening or not).' },
        { name: 'connects_denied', type: 'u64', doc: 'Connects the policy refused.' },
        { name: 'bytes_sent', type: 'u64', doc: 'Sum of bytes_sent over closed notices.' },
        { name: 'bytes_received', type: 'u64', doc: 'Sum of bytes_received over closed notices.' },
        { name: 'uptime_ms', type: 'u64', doc: 'Milliseconds since the operator started.' },
      ],
    },
    {
      name: 'shutdown',
      code: 80,
      route: 'shim-to-operator',
      doc: 'The program shut down one direction of a circuit (accounting and logs; the circuit itself carries the flag).',
      fields: [
        { name: 'circuit', type: 'u64', doc: 'The circuit\'s id.' },
        { name: 'how', type: { enum: 'shutdown_how' }, doc: 'Which direction.' },
      ],
    },
    {
      name: 'closed',
      code: 81,
      route: 'shim-to-operator',
      doc: 'The process closed its last fd of a circuit: byte counts for accounting (claims by the tenant, not proof).',
      fields: [
        { name: 'circuit', type: 'u64', doc: 'The circuit\'s id.' },
        { name: 'bytes_sent', type: 'u64', doc: 'Bytes this end wrote into the circuit.' },
        { name: 'bytes_received', type: 'u64', doc: 'Bytes this end read from the circuit.' },
        { name: 'reset', type: 'bool', doc: 'Closed with a reset (SO_LINGER 0, or unread data).' },
      ],
    },
  ],
});
