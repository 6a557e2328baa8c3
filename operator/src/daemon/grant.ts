/**
 * connect: from a request to a granted circuit.
 *
 *  1. resolve the destination: loopback (or a wildcard) is the connecting
 *     tenant itself; an address listed for some tenant is that tenant;
 *     anything else is off the circuit network;
 *  2. ask the policy: a denied connect fails with the rule's errno (EPERM by
 *     default) and writes an audit line;
 *  3. find the listener (exact address before wildcard; several sharing the
 *     port with SO_REUSEPORT take turns) — none: ECONNREFUSED;
 *  4. honour its backlog: at most backlog+1 connections wait in its queue,
 *     as on Linux.  Beyond that a non-blocking connect fails with EAGAIN (as
 *     for AF_UNIX) and a blocking one waits, as a dropped SYN does, until
 *     there is room or connectTimeoutMs pass (ETIMEDOUT);
 *  5. take a fresh circuit (memfd and endpoint pair, made ahead), queue
 *     `incoming` (memfd + acceptor end) on the listener's port, reply
 *     `connect_granted` (memfd + connector end), and close the operator's
 *     copies of both ends — in native code (operator/native/src/grant.cc).
 *
 * Most connects never get here: the native fast path (fastpath.cc,
 * fastpath.ts) answers an unbound connect itself when it has the decision,
 * the listener, a port and a circuit at hand.  This is where it gets its
 * decisions: whenever JavaScript decides an unbound connect (steps 1–2), it
 * hands the decision down, so the next connect to that destination is the
 * fast path's.  Everything else, and every miss, is answered here.
 */
import { formatInet6, type Msg } from '../../../build/gen/ts/protocol.ts';
import { E, errnoByName, errnoName } from '../errno.ts';
import {
  cidrContains,
  formatAddress,
  type InetAddress,
  ipBytes,
  isLoopback,
  isWildcard,
  loopbackOf,
} from '../net/address.ts';
import { type GrantResult, native } from '../native.ts';
import { decideConnect } from '../policy/evaluate.ts';
import { type Circuit, discard } from './circuits.ts';
import type { Exchange } from './exchange.ts';
import { wire } from './fastpath.ts';
import { type Reservation, ReservationTable } from './reservations.ts';
import { clip, type Outgoing, type Session } from './session.ts';

type ConnectMsg = Extract<Msg, { type: 'connect' }>;

let turn = 0;

/** The tenant that owns `dest`, or null when it is off the circuit network. */
export function destinationTenant(x: Exchange, from: string, dest: InetAddress): string | null {
  if (isLoopback(dest) || isWildcard(dest)) return from;
  for (const t of x.policy().tenants.values()) if (t.addresses.some((c) => cidrContains(c, dest))) return t.name;
  return null;
}

/** The connector's own IP: its bound one, or one of its tenant's that can reach `dest` (the port is not decided yet). */
function sourceIp(x: Exchange, s: Session, msg: ConnectMsg, dest: InetAddress, bound: Reservation | undefined): InetAddress {
  const base = bound?.address ?? (msg.source.family === 'unspec' ? undefined : msg.source);
  if (base && !isWildcard(base)) return base;
  const family = dest.family;
  const own = isLoopback(dest) || isWildcard(dest) ? undefined : x.policy().tenants.get(s.tenant)?.addresses.find((c) => c.bytes.length === ipBytes(dest).length);
  if (own) return toAddress(own.bytes, 0, family);
  // A v4-mapped destination is reached over IPv4: the local end is 127.0.0.1, shown v4-mapped to an AF_INET6 socket.
  if (ipBytes(dest).length === 4) return toAddress(ipBytes(loopbackOf('inet', 0)), 0, family);
  return loopbackOf(family, 0);
}

/** The connector's own address: its bound one, or `ip` with a free ephemeral port. */
function sourceAddress(x: Exchange, s: Session, msg: ConnectMsg, ip: InetAddress, bound: Reservation | undefined): InetAddress | number {
  if (bound) return { ...ip, port: bound.address.port };
  const family = ipBytes(ip).length;
  const port = ReservationTable.ephemeral(
    (p) =>
      x.reservations.onPort(s.tenant, msg.socketType, p).length === 0 &&
      !x.fast.isPooled(s.tenant, msg.socketType, p) &&
      !some(x.circuits.onPort(s.tenant, msg.socketType, p), (u) => ipBytes(u.address).length === family),
  );
  return port === 0 ? E.EADDRNOTAVAIL : { ...ip, port };
}

function some<T>(items: Iterable<T>, test: (t: T) => boolean): boolean {
  for (const t of items) if (test(t)) return true;
  return false;
}

function toAddress(bytes: Uint8Array, port: number, family: 'inet' | 'inet6'): InetAddress {
  if (bytes.length === 4 && family === 'inet') return { family: 'inet', address: Array.from(bytes).join('.'), port };
  if (bytes.length === 4) return { family: 'inet6', address: `::ffff:${Array.from(bytes).join('.')}`, port, flowinfo: 0, scopeId: 0 };
  return { family: 'inet6', address: formatInet6(bytes), port, flowinfo: 0, scopeId: 0 };
}

/** How a listener bound to AF_INET6 sees an IPv4 peer: as an IPv4-mapped address. */
function asSeenBy(listener: Reservation, a: InetAddress): InetAddress {
  if (listener.address.family === 'inet6' && a.family === 'inet') return toAddress(ipBytes(a), a.port, 'inet6');
  return a;
}

export function connect(x: Exchange, s: Session, msg: ConnectMsg, at: bigint): Outgoing | Promise<Outgoing> {
  const deadline = Date.now() + x.connectTimeoutMs;
  const attempt = (): Outgoing | Reservation => tryConnect(x, s, msg, at);
  const first = attempt();
  if (!('id' in first)) return first;
  if (msg.options.includes('nonblocking')) {
    return fail(x, s, msg, E.EAGAIN, `the listener's backlog (${first.backlog}) is full`);
  }
  // Park until the listener has room (re-checked every 5 ms), it goes away, or the deadline.
  return new Promise<Outgoing>((resolve) => {
    const park = (r: Reservation) => {
      r.waiters.push({
        wake: () => {
          if (s.isClosed) return resolve(fail(x, s, msg, E.ECONNABORTED, 'the session closed while waiting'));
          if (Date.now() > deadline) return resolve(fail(x, s, msg, E.ETIMEDOUT, `the listener's backlog stayed full for ${x.connectTimeoutMs} ms`));
          const again = attempt();
          if ('id' in again) park(again);
          else resolve(again);
        },
      });
      x.ensureParkTimer();
    };
    park(first);
  });
}

function fail(x: Exchange, s: Session, msg: ConnectMsg, errnum: number, why: string): Outgoing {
  x.metrics.failed.inc({ tenant: s.tenant, errno: errnoName(errnum) });
  x.log.debug('connect.failed', { session: s.id, tenant: s.tenant, destination: formatAddress(msg.destination), errno: errnoName(errnum), why });
  return s.errorFor(msg, errnum, why);
}

/** A reply, or the listener whose backlog is full. */
function tryConnect(x: Exchange, s: Session, msg: ConnectMsg, at: bigint): Outgoing | Reservation {
  const dest = msg.destination;
  if (dest.family === 'unspec') return fail(x, s, msg, E.EAFNOSUPPORT, 'connect needs an AF_INET or AF_INET6 destination');
  let bound: Reservation | undefined;
  if (msg.reservation !== 0n) {
    bound = x.ownReservation(s, msg.reservation);
    if (!bound) return fail(x, s, msg, E.EINVAL, `no reservation ${msg.reservation} for tenant ${s.tenant}`);
    if (bound.listening && msg.socketType === 'stream') return fail(x, s, msg, E.EISCONN, 'the socket is listening');
    if (bound.type !== msg.socketType) return fail(x, s, msg, E.EINVAL, 'the reservation is of another socket type');
  }
  if (dest.port === 0) return fail(x, s, msg, E.ECONNREFUSED, 'port 0');

  const toTenant = destinationTenant(x, s.tenant, dest);
  const decision = decideConnect(x.policy(), { from: s.tenant, toTenant, destination: dest, type: msg.socketType });
  // What the fast path may replay: the decision for an unbound connect to exactly this destination.
  const unbound = !bound && msg.source.family === 'unspec';
  if (!decision.allow) {
    const errnum = errnoByName(decision.errno) ?? E.EPERM;
    const message = clip(`policy: ${decision.rule} denies ${s.tenant} -> ${formatAddress(dest)}`);
    if (unbound && msg.socketType === 'stream') x.fast.decide(s.tenant, msg.socketType, dest, { allow: false, errno: errnum, rule: decision.rule, message });
    x.denied(s.id, s.tenant, s.cred, dest, msg.socketType, decision.rule, errnum);
    return s.errorFor(msg, errnum, message);
  }
  if (toTenant === null) {
    return fail(x, s, msg, E.ENETUNREACH, `${formatAddress(dest)} is off the circuit network, and the proxy stack is not available`);
  }
  const ip = sourceIp(x, s, msg, dest, bound);
  // Datagram connects always come bound (the shim binds first, to receive replies), so only streams go fast.
  if (unbound && msg.socketType === 'stream') {
    x.fast.decide(s.tenant, msg.socketType, dest, { allow: true, toTenant, source: ip });
    x.topUpPorts(s.tenant, msg.socketType);
  }

  const listeners = x.reservations.listenersFor(toTenant, msg.socketType, dest);
  if (listeners.length === 0) return fail(x, s, msg, E.ECONNREFUSED, `nothing listens on ${formatAddress(dest)} (tenant ${toTenant})`);
  const listener = listeners[turn++ % listeners.length]!;
  // SIOCOUTQ counts what the listener has not accepted yet; Linux lets backlog+1 wait.
  if (Math.floor(native.unsentBytes(listener.operatorFd) / x.backlogUnit) > listener.backlog) return listener;

  const local = sourceAddress(x, s, msg, ip, bound);
  if (typeof local === 'number') return fail(x, s, msg, local, 'no free ephemeral port');
  return grant(x, s, msg, listener, local, at);
}

function grant(x: Exchange, s: Session, msg: ConnectMsg, listener: Reservation, local: InetAddress, at: bigint): Outgoing | Reservation {
  // As the grant carries it (and the fast path records it): no flow label or scope on a circuit.
  const dest: InetAddress = msg.destination.family === 'inet6' ? { ...msg.destination, flowinfo: 0, scopeId: 0 } : (msg.destination as InetAddress);
  const fresh = x.circuits.fresh(msg.socketType);
  const id = x.circuits.newId();
  const acceptorLocal = asSeenBy(listener, dest);
  const c: Circuit = {
    id,
    type: msg.socketType,
    memfd: fresh.memfd,
    geometry: fresh.geometry,
    connector: { tenant: s.tenant, pid: s.cred.pid, uid: s.cred.uid, address: local, cookie: fresh.connectorCookie, closed: null },
    acceptor: {
      tenant: listener.tenant,
      pid: listener.pid,
      uid: listener.uid,
      address: acceptorLocal,
      cookie: fresh.acceptorCookie,
      closed: null,
      reservation: listener.id,
    },
    createdAt: Date.now(),
  };
  const registered = () => recordGrant(x, c, s.id, dest);
  /** The grant did not happen after all: undo registered(). */
  const unregistered = () => {
    x.circuits.forget(c);
    x.counters.of(s.tenant).circuitsTotal--;
    x.counters.of(s.tenant).connectsGranted--;
    if (listener.tenant !== s.tenant) x.counters.of(listener.tenant).circuitsTotal--;
    x.metrics.circuitsOpen.set(x.circuits.size);
  };
  let result: GrantResult | null = null;
  // Both messages go out in one native call, when the session sends its reply (in order);
  // the bookkeeping comes first so that the operator can sleep right after (see session.ts).
  const mailbox = listener.mailbox;
  const count = mailbox ? mailbox.count + 1n : 0n;
  const sendOn = (sessionFd: number): number => {
    registered();
    result = native.grantCircuit({
      ...(mailbox ? { mailboxFd: mailbox.fd, mailboxCount: count } : {}),
      listenerFd: listener.operatorFd,
      sessionFd,
      memfd: fresh.memfd,
      connectorFd: fresh.connectorFd,
      acceptorFd: fresh.acceptorFd,
      stream: msg.socketType === 'stream',
      circuit: id,
      requestId: msg.requestId,
      geometry: fresh.geometry,
      connectorLocal: wire(local),
      connectorPeer: wire(dest),
      acceptorLocal: wire(acceptorLocal),
      acceptorPeer: wire(asSeenBy(listener, local)),
    });
    if (mailbox && result.incomingErrno === 0) mailbox.count = count;
    return result.incomingErrno === 0 ? result.replyErrno : 0;
  };
  return {
    what: 'connect_granted',
    sendOn,
    after: () => {
      const r = result as GrantResult | null;
      if (!r) return discard(fresh); // the session closed before its turn
      if (r.incomingErrno === 0 && r.replyErrno === 0) {
        x.metrics.granted.inc({ tenant: s.tenant });
        x.metrics.setup.observe(Number(process.hrtime.bigint() - at) / 1e9);
        return;
      }
      unregistered();
      native.closeFd(fresh.memfd); // grantCircuit closed both ends
      if (r.incomingErrno === 0) return; // the connector vanished after the acceptor got its end: that one sees a reset
      // The listener's queue refused (it vanished a moment ago, or its kernel queue is full): nothing was sent.
      if (r.incomingErrno !== E.EAGAIN) x.free(listener, `cannot queue incoming: ${errnoName(r.incomingErrno)}`);
      const full = r.incomingErrno === E.EAGAIN;
      s.send(fail(x, s, msg, full ? E.EAGAIN : E.ECONNREFUSED, full ? `the listener's backlog (${listener.backlog}) is full` : `the listener on ${formatAddress(dest)} went away`));
    },
  };
}

/** A circuit granted (here or by the fast path): into the table, the counters and the debug log. */
export function recordGrant(x: Exchange, c: Circuit, session: number, peer: InetAddress, gauge = true): void {
  x.circuits.register(c);
  const k = x.counters.of(c.connector.tenant);
  k.circuitsTotal++;
  k.connectsGranted++;
  if (c.acceptor.tenant !== c.connector.tenant) x.counters.of(c.acceptor.tenant).circuitsTotal++;
  if (gauge) x.metrics.circuitsOpen.set(x.circuits.size); // a drain sets it once for all its grants
  if (x.log.enabled('debug')) {
    x.log.debug('connect.granted', {
      session,
      circuit: c.id,
      from: c.connector.tenant,
      to: c.acceptor.tenant,
      local: formatAddress(c.connector.address),
      peer: formatAddress(peer),
    });
  }
}
