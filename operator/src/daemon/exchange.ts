/**
 * The exchange: the operator's connection table and the requests that change
 * it (everything but `connect`, which is in grant.ts).  One instance per
 * operator run; sessions call `handle` with each decoded message.
 *
 * The native fast path (fastpath.ts) answers most connects without reaching
 * here, and reports them in batches: `sync()` brings them in, and runs
 * before anything else here reads or changes the tables.
 */
import crypto from 'node:crypto';
import {
  type Address,
  type Msg,
  type ShimCaps,
  type SocketType,
  TYPES,
} from '../../../build/gen/ts/protocol.ts';
import { E } from '../errno.ts';
import type { Logger } from '../log.ts';
import { cidrContains, formatAddress, type InetAddress, isLoopback, isWildcard } from '../net/address.ts';
import { native } from '../native.ts';
import { OPERATOR_VERSION } from '../paths.ts';
import { listenRuleFor } from '../policy/evaluate.ts';
import type { Policy } from '../policy/types.ts';
import { type Circuit, CircuitTable } from './circuits.ts';
import { FastPath } from './fastpath.ts';
import { Counters } from './stats.ts';
import type { Metrics } from './metrics.ts';
import { connect, recordGrant } from './grant.ts';
import { type Reservation, ReservationTable } from './reservations.ts';
import type { Credentials, Outgoing, Session } from './session.ts';

/** What this operator does for a shim: page-aligned rings, datagram circuits, IPv6. Not yet: async (proxied) connects. */
const OPERATOR_CAPS: readonly ShimCaps[] = ['zero_copy', 'datagrams', 'inet6'];

/** SIOCOUTQ of an `incoming` message with its two fds, measured at start (see backlogUnit). */
function measureIncomingUnit(): number {
  const [a, b] = native.socketPair('seqpacket');
  const [x, y] = native.socketPair('stream');
  try {
    native.sendMessage(a, new Uint8Array(TYPES.incoming.bytes), [x, y]);
    return Math.max(1, native.unsentBytes(a));
  } finally {
    for (const fd of [a, b, x, y]) native.closeFd(fd);
  }
}

export interface ExchangeOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly policy: () => Policy;
  /** Blocking connects parked on a full backlog fail with ETIMEDOUT after this long (Linux: ~127 s of SYN retries). */
  readonly connectTimeoutMs: number;
  /** The open session with this id (for audit lines about what the fast path denied). */
  readonly session: (id: number) => Session | undefined;
}

export class Exchange {
  readonly instance = crypto.randomBytes(16);
  readonly startedAt = Date.now();
  readonly reservations = new ReservationTable();
  readonly counters = new Counters();
  readonly circuits: CircuitTable;
  /** Kernel bytes one queued `incoming` occupies in a port pair's send queue. */
  readonly backlogUnit = measureIncomingUnit();
  readonly fast: FastPath;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly policy: () => Policy;
  readonly connectTimeoutMs: number;
  private readonly sessionById: (id: number) => Session | undefined;
  private parkTimer: NodeJS.Timeout | null = null;

  constructor(o: ExchangeOptions) {
    this.log = o.log;
    this.metrics = o.metrics;
    this.policy = o.policy;
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.sessionById = o.session;
    this.fast = new FastPath(this.backlogUnit, this.sync);
    this.circuits = new CircuitTable(o.log, this.fast, () => this.sync(), (c) => this.circuitGone(c));
  }

  start(): void {
    this.circuits.start();
  }

  stop(): void {
    this.sync();
    if (this.parkTimer) clearInterval(this.parkTimer);
    for (const r of [...this.reservations.all()]) this.free(r, 'operator stopping');
    this.circuits.stop();
    this.fast.close();
  }

  /** Brings in what the fast path did: circuits, counters, metrics, audit lines.  Before anything reads the tables. */
  sync = (): void => {
    const granted = new Map<string, number>(); // per connecting tenant, for the metrics
    const pools = new Map<string, { tenant: string; type: SocketType }>(); // the port pools the grants took from
    const d = this.fast.drain((g) => {
      const c = g.circuit;
      if (g.replyErrno !== 0) {
        // As grant.ts: the connector vanished after the acceptor got its end (which sees a reset); its session closes.
        this.fast.closeSoon([c.memfd]);
        return;
      }
      recordGrant(this, c, g.session, g.peer, false);
      granted.set(c.connector.tenant, (granted.get(c.connector.tenant) ?? 0) + 1);
      pools.set(`${c.type} ${c.connector.tenant}`, { tenant: c.connector.tenant, type: c.type });
      this.metrics.setup.observe(g.setupNs / 1e9);
    }, (n) => {
      if (n.type === 'closed') this.closedBy(n.tenant, n.circuit, n.bytesSent, n.bytesReceived, n.reset);
      else this.log.debug('circuit.shutdown', { session: n.session, tenant: n.tenant, circuit: n.circuit, how: n.how });
    });
    if (!d) return;
    this.counters.messagesReceived += d.messages;
    this.counters.fastPathAnswered += d.grants + d.denials.length;
    if (granted.size > 0) this.metrics.circuitsOpen.set(this.circuits.size);
    for (const [tenant, n] of granted) this.metrics.granted.inc({ tenant }, n);
    for (const { tenant, type } of pools.values()) this.topUpPorts(tenant, type);
    for (const x of d.denials) {
      this.denied(x.session, this.fast.tenantName(x.tenant), x, x.destination, x.type, x.rule, x.errno, new Date(x.at));
    }
  };

  /** Sets ephemeral ports aside for the fast path's unbound connects of `tenant`. */
  topUpPorts(tenant: string, type: SocketType): void {
    const reserved = this.reservations.portsOf(tenant, type);
    this.fast.topUp(tenant, type, (p) => reserved?.has(p) === true || this.circuits.portInUse(tenant, type, p));
  }

  /** The policy changed: the fast path forgets its decisions. */
  policyChanged(): void {
    this.sync();
    this.fast.clearDecisions();
  }

  handle = (s: Session, msg: Msg, fds: number[], at: bigint): Outgoing | null | Promise<Outgoing | null> => {
    this.sync();
    if (msg.type === 'hello') return this.hello(s, msg);
    if (!s.hello) {
      for (const fd of fds) native.closeFd(fd);
      if (TYPES[msg.type].kind !== 'request') return null;
      return s.errorFor(msg, E.EPROTO, `${msg.type} before hello: a session starts with hello`);
    }
    switch (msg.type) {
      case 'bind':
        return this.bind(s, msg);
      case 'release':
        return this.release(s, msg);
      case 'listen':
        return this.listen(s, msg);
      case 'unlisten':
        return this.unlisten(s, msg);
      case 'connect':
        return connect(this, s, msg, at);
      case 'claim':
        return this.claim(s, msg, fds[0]!);
      case 'stats_query':
        return this.stats(s, msg);
      case 'shutdown':
        this.log.debug('circuit.shutdown', { session: s.id, tenant: s.tenant, circuit: msg.circuit, how: msg.how });
        return null;
      case 'closed':
        return this.closedNotice(s, msg);
      default:
        // hello is handled above; the decoder lets no other route's types through.
        return null;
    }
  };

  private hello(s: Session, msg: Extract<Msg, { type: 'hello' }>): Outgoing {
    if (s.hello) return s.errorFor(msg, E.EPROTO, 'hello twice on one session');
    s.hello = msg;
    this.log.info('session.hello', {
      session: s.id,
      tenant: s.tenant,
      ...s.cred,
      claimed_pid: msg.pid,
      program: msg.program,
      shim_version: msg.shimVersion,
      capabilities: msg.capabilities,
    });
    return {
      msg: {
        type: 'hello_reply',
        requestId: msg.requestId,
        operatorPid: process.pid,
        instance: this.instance,
        capabilities: msg.capabilities.filter((c) => OPERATOR_CAPS.includes(c)),
        operatorVersion: OPERATOR_VERSION,
        tenant: s.tenant,
      },
    };
  }

  /** The tenant's own reservation with this id (another tenant's looks just as absent). */
  ownReservation(s: Session, id: bigint): Reservation | undefined {
    const r = this.reservations.get(id);
    return r && r.tenant === s.tenant ? r : undefined;
  }

  /** Whether `a` is an address this tenant may bind: wildcard, loopback or one of its own (else EADDRNOTAVAIL, as Linux). */
  addressIsLocal(tenant: string, a: InetAddress): boolean {
    if (isWildcard(a) || isLoopback(a)) return true;
    return (this.policy().tenants.get(tenant)?.addresses ?? []).some((c) => cidrContains(c, a));
  }

  private bind(s: Session, msg: Extract<Msg, { type: 'bind' }>): Outgoing {
    const a = msg.address;
    if (a.family === 'unspec') return s.errorFor(msg, E.EAFNOSUPPORT, 'bind needs an AF_INET or AF_INET6 address');
    if (!this.addressIsLocal(s.tenant, a)) {
      return s.errorFor(msg, E.EADDRNOTAVAIL, `${a.address} is not an address of tenant ${s.tenant}`);
    }
    if (a.port !== 0 && !listenRuleFor(this.policy(), s.tenant, a, msg.socketType)) {
      this.audit(s, 'bind', a, msg.socketType, 'no listen rule permits it', E.EACCES);
      return s.errorFor(msg, E.EACCES, `policy: tenant ${s.tenant} may not bind ${formatAddress(a)}`);
    }
    const users = (port: number) => this.circuits.onPort(s.tenant, msg.socketType, port);
    let address: InetAddress = a;
    if (a.port === 0) {
      const port = ReservationTable.ephemeral(
        (p) =>
          !this.fast.isPooled(s.tenant, msg.socketType, p) &&
          !this.reservations.bindConflict(s.tenant, msg.socketType, { ...a, port: p }, msg.options, s.cred.uid, users),
      );
      if (port === 0) return s.errorFor(msg, E.EADDRINUSE, 'no free port in the ephemeral range');
      address = { ...a, port };
    } else {
      // A port set aside for the fast path is not in use yet: the bind takes it back.
      this.fast.reclaim(s.tenant, msg.socketType, a.port);
      const clash = this.reservations.bindConflict(s.tenant, msg.socketType, a, msg.options, s.cred.uid, users);
      if (clash) return s.errorFor(msg, E.EADDRINUSE, `${formatAddress(clash.address)} is in use`);
    }
    const [operatorFd, shimFd] = native.socketPair('seqpacket');
    native.setNonblocking(operatorFd, true);
    const r: Reservation = {
      id: this.reservations.newId(),
      tenant: s.tenant,
      type: msg.socketType,
      address,
      options: msg.options,
      uid: s.cred.uid,
      pid: s.cred.pid,
      listening: false,
      backlog: 0,
      operatorFd,
      shimCookie: native.socketCookie(shimFd),
      watcher: null,
      mailbox: null,
      waiters: [],
      createdAt: Date.now(),
    };
    r.watcher = new native.Watcher(operatorFd, () => this.portEvent(r));
    this.reservations.add(r);
    this.metrics.reservations.set(this.reservations.size);
    this.log.debug('reservation.bind', { session: s.id, tenant: s.tenant, reservation: r.id, address: formatAddress(address), type: r.type });
    return {
      msg: { type: 'bind_reply', requestId: msg.requestId, reservation: r.id, address },
      fds: [shimFd],
      after: () => native.closeFd(shimFd),
    };
  }

  /** The operator's end of a port pair: tenants have nothing to say on it; a hang-up frees the reservation. */
  private portEvent(r: Reservation): void {
    for (;;) {
      const m = native.recvMessage(r.operatorFd, 512, 2);
      if (m.kind === 'again') return;
      if (m.kind !== 'message') return this.free(r, 'every holder closed the port fd');
      for (const fd of m.fds) native.closeFd(fd);
      this.log.warn('reservation.unexpected_message', { reservation: r.id, tenant: r.tenant, bytes: m.bytes.length });
    }
  }

  /** Frees a reservation; connects parked on it fail (see grant.ts). */
  free(r: Reservation, reason: string): void {
    if (this.reservations.get(r.id) !== r) return;
    this.sync();
    r.watcher?.close();
    r.watcher = null;
    this.fast.unlisten(r);
    this.reservations.remove(r);
    native.closeFd(r.operatorFd);
    if (r.mailbox) native.closeFd(r.mailbox.fd);
    r.listening = false;
    for (const w of r.waiters.splice(0)) w.wake();
    this.metrics.reservations.set(this.reservations.size);
    this.log.debug('reservation.free', { tenant: r.tenant, reservation: r.id, address: formatAddress(r.address), reason });
  }

  private release(s: Session, msg: Extract<Msg, { type: 'release' }>): Outgoing {
    const r = this.ownReservation(s, msg.reservation);
    // Already freed (its port hung up first): nothing left to do.
    if (!r && this.reservations.issued(msg.reservation)) return { msg: { type: 'ok', requestId: msg.requestId } };
    if (!r) return s.errorFor(msg, E.EINVAL, `no reservation ${msg.reservation} for tenant ${s.tenant}`);
    // Free it now if that was the last holder, so an immediate re-bind succeeds as on Linux.
    if (native.peerHungUp(r.operatorFd)) this.free(r, 'released');
    return { msg: { type: 'ok', requestId: msg.requestId } };
  }

  private listen(s: Session, msg: Extract<Msg, { type: 'listen' }>): Outgoing {
    const r = this.ownReservation(s, msg.reservation);
    if (!r) return s.errorFor(msg, E.EINVAL, `no reservation ${msg.reservation} for tenant ${s.tenant}`);
    // A datagram socket receives on whatever port it has: its listen rule was checked at bind (for a
    // port it chose), and an ephemeral port is a client's, which must hear its answers.
    if (r.type !== 'dgram' && !listenRuleFor(this.policy(), s.tenant, r.address, r.type)) {
      this.audit(s, 'listen', r.address, r.type, 'no listen rule permits it', E.EACCES);
      return s.errorFor(msg, E.EACCES, `policy: tenant ${s.tenant} may not listen on ${formatAddress(r.address)}`);
    }
    const clash = this.reservations.listenConflict(r);
    if (clash) return s.errorFor(msg, E.EADDRINUSE, `${formatAddress(clash.address)} already has a listener`);
    r.listening = true;
    r.backlog = msg.backlog;
    // Room in the kernel for the whole backlog (+1, as Linux queues backlog+1) and some slack.
    native.setSendBuffer(r.operatorFd, (msg.backlog + 4) * this.backlogUnit);
    this.fast.listen(r);
    for (const w of r.waiters.splice(0)) w.wake();
    this.log.info('reservation.listen', {
      session: s.id,
      tenant: s.tenant,
      ...s.cred,
      reservation: r.id,
      type: r.type,
      address: formatAddress(r.address),
      backlog: r.backlog,
    });
    if (r.type === 'dgram') {
      // A datagram receiver learns of new peers through its mailbox (the same one if it listens again, after exec).
      r.mailbox ??= { fd: native.createMailbox(), count: 0n };
      return { msg: { type: 'mailbox_reply', requestId: msg.requestId }, fds: [r.mailbox.fd] };
    }
    return { msg: { type: 'ok', requestId: msg.requestId } };
  }

  private unlisten(s: Session, msg: Extract<Msg, { type: 'unlisten' }>): Outgoing {
    const r = this.ownReservation(s, msg.reservation);
    if (!r) return s.errorFor(msg, E.EINVAL, `no reservation ${msg.reservation} for tenant ${s.tenant}`);
    r.listening = false;
    r.backlog = 0;
    this.fast.unlisten(r);
    for (const w of r.waiters.splice(0)) w.wake();
    return { msg: { type: 'ok', requestId: msg.requestId } };
  }

  /** The fd is the capability: whoever shows an endpoint gets its circuit's memory, whoever shows a port fd learns its reservation. */
  private claim(s: Session, msg: Extract<Msg, { type: 'claim' }>, fd: number): Outgoing {
    try {
      const id = native.fdIdentity(fd);
      const hit = id.socket ? this.circuits.byEndpointCookie(id.cookie) : undefined;
      if (hit) {
        const c = hit.circuit;
        const [me, other] = hit.role === 'connector' ? [c.connector, c.acceptor] : [c.acceptor, c.connector];
        this.log.info('claim.circuit', { session: s.id, tenant: s.tenant, ...s.cred, circuit: c.id, role: hit.role });
        return {
          msg: {
            type: 'claim_circuit',
            requestId: msg.requestId,
            circuit: c.id,
            socketType: c.type,
            role: hit.role,
            geometry: c.geometry,
            local: me.address,
            peer: other.address,
          },
          fds: [c.memfd],
        };
      }
      const r = id.socket ? this.reservations.byShimCookie(id.cookie) : undefined;
      if (r) {
        this.log.info('claim.port', { session: s.id, tenant: s.tenant, ...s.cred, reservation: r.id });
        return {
          msg: {
            type: 'claim_port',
            requestId: msg.requestId,
            reservation: r.id,
            socketType: r.type,
            address: r.address,
            options: r.options,
            listening: r.listening,
            backlog: r.listening ? r.backlog : 0,
          },
        };
      }
      return s.errorFor(msg, E.ENOENT, id.socket ? 'not a socket of this operator instance' : 'not a socket');
    } finally {
      native.closeFd(fd);
    }
  }

  /** Circuits a tenant is an end of, open now. */
  openCircuitsOf(tenant: string): number {
    let n = 0;
    for (const c of this.circuits.all()) if (c.connector.tenant === tenant || c.acceptor.tenant === tenant) n++;
    return n;
  }

  private stats(s: Session, msg: Extract<Msg, { type: 'stats_query' }>): Outgoing {
    const c = this.counters.of(s.tenant);
    let listeners = 0;
    let reservations = 0;
    for (const r of this.reservations.all()) {
      if (r.tenant !== s.tenant) continue;
      reservations++;
      if (r.listening) listeners++;
    }
    return {
      msg: {
        type: 'stats_reply',
        requestId: msg.requestId,
        circuitsOpen: this.openCircuitsOf(s.tenant),
        circuitsTotal: c.circuitsTotal,
        listeners,
        reservations,
        connectsDenied: c.connectsDenied,
        bytesSent: c.bytesSent,
        bytesReceived: c.bytesReceived,
        uptimeMs: BigInt(Date.now() - this.startedAt),
      },
    };
  }

  private closedNotice(s: Session, msg: Extract<Msg, { type: 'closed' }>): null {
    this.closedBy(s.tenant, msg.circuit, msg.bytesSent, msg.bytesReceived, msg.reset);
    return null;
  }

  /** A `closed` notice from `tenant` (here or taken by the fast path): the end's byte counts, the tenant's sums. */
  private closedBy(tenant: string, circuit: bigint, bytesSent: bigint, bytesReceived: bigint, reset: boolean): void {
    const c = this.circuits.get(circuit);
    const end = c && (c.connector.tenant === tenant ? c.connector : c.acceptor.tenant === tenant ? c.acceptor : undefined);
    if (!c || !end || end.closed) return; // accounting claims about other tenants' circuits are ignored
    end.closed = { bytesSent, bytesReceived, reset };
    const k = this.counters.of(tenant);
    k.bytesSent += bytesSent;
    k.bytesReceived += bytesReceived;
    this.circuits.sweepSoon();
  }

  /** Per datagram circuit: its ring counters as last added to the metrics (datagrams and drops, each way). */
  private readonly datagramsCounted = new Map<bigint, readonly bigint[]>();

  /**
   * Adds what datagram circuits carried and dropped since the last look to the
   * metrics (before each scrape, and once more as a circuit goes).  The counts
   * live in circuit memory, written by the senders: statistics, not proof.
   */
  countDatagrams(only?: Circuit): void {
    for (const c of only ? [only] : this.circuits.all()) {
      if (c.type !== 'dgram') continue;
      let k: BigUint64Array;
      try {
        k = native.ringCounters(c.memfd);
      } catch {
        continue;
      }
      // ring A: connector -> acceptor (the acceptor's tenant receives), ring B the other way.
      const now = [k[4]!, k[6]!, k[5]!, k[7]!];
      const before = this.datagramsCounted.get(c.id) ?? [0n, 0n, 0n, 0n];
      const add = (i: number, tenant: string, metric: typeof this.metrics.datagrams) => {
        const d = now[i]! - before[i]!;
        if (d > 0n) metric.inc({ tenant }, Number(d));
      };
      add(0, c.acceptor.tenant, this.metrics.datagrams);
      add(1, c.acceptor.tenant, this.metrics.datagramsDropped);
      add(2, c.connector.tenant, this.metrics.datagrams);
      add(3, c.connector.tenant, this.metrics.datagramsDropped);
      // A peer may scribble its counters backwards: never count anything twice.
      this.datagramsCounted.set(c.id, now.map((v, i) => (v > before[i]! ? v : before[i]!)));
    }
  }

  private circuitGone(c: Circuit): void {
    if (c.type === 'dgram') {
      this.countDatagrams(c);
      this.datagramsCounted.delete(c.id);
    }
    this.metrics.circuitsOpen.set(this.circuits.size);
    this.log.debug('circuit.gone', { circuit: c.id, age_ms: Date.now() - c.createdAt });
  }

  audit(s: Session, what: string, dest: Address, type: string, rule: string, errnum: number): void {
    this.log.audit(`deny.${what}`, {
      session: s.id,
      tenant: s.tenant,
      ...s.cred,
      program: s.hello?.program,
      type,
      destination: formatAddress(dest),
      rule,
      errno: errnum,
    });
  }

  /** A connect the policy denied (here or on the fast path, `at` then): counters, metrics, the audit line. */
  denied(session: number, tenant: string, cred: Credentials, dest: Address, type: string, rule: string, errnum: number, at?: Date): void {
    this.counters.of(tenant).connectsDenied++;
    this.metrics.denied.inc({ tenant });
    const fields = {
      session,
      tenant,
      pid: cred.pid,
      uid: cred.uid,
      gid: cred.gid,
      program: this.sessionById(session)?.hello?.program,
      type,
      destination: formatAddress(dest),
      rule,
      errno: errnum,
    };
    this.log.log('audit', 'deny.connect', fields, at);
  }

  /** While connects are parked on full backlogs (grant.ts), retries them every 5 ms. */
  ensureParkTimer(): void {
    if (this.parkTimer) return;
    this.parkTimer = setInterval(() => {
      this.sync();
      let any = false;
      for (const r of this.reservations.all()) {
        if (r.waiters.length === 0) continue;
        any = true;
        for (const w of r.waiters.splice(0)) w.wake();
      }
      if (!any && this.parkTimer) {
        clearInterval(this.parkTimer);
        this.parkTimer = null;
      }
    }, 5);
  }
}
