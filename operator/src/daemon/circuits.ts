/**
 * The circuit table.  A circuit is a memfd made by the circuit library plus a
 * pair of AF_UNIX sockets, one end per side.  The operator hands both ends
 * out and keeps only the memfd (to answer `claim`) and the ends' SO_COOKIEs:
 * holding an end would keep it alive and hide the other side's death from
 * its peer.  It learns that a circuit is gone when neither end's cookie is in
 * the kernel's list of live AF_UNIX sockets any more (sock_diag), checked
 * every second and soon after a `closed` notice or a session's end.
 *
 * Fresh circuits (memfd and endpoint pair) for the default geometry are
 * made ahead of time (a small pool), so nothing is created on the connect path.
 */
import type { Geometry, SocketType } from '../../../build/gen/ts/protocol.ts';
import type { Logger } from '../log.ts';
import type { InetAddress } from '../net/address.ts';
import { native, type CreatedCircuit, type EndpointPair } from '../native.ts';
import type { PortUser } from './reservations.ts';

/** layout.h: enum sb_circuit_mode. */
const MODE: Record<SocketType, number> = { stream: 1, dgram: 2 };
/** Circuits kept ready per socket type. */
const POOL_TARGET: Record<SocketType, number> = { stream: 16, dgram: 2 };
const REFILL_DELAY_MS = 2;

export interface CircuitEnd extends PortUser {
  /** SO_PEERCRED of the session that asked (connector) or bound the listener (acceptor). */
  readonly pid: number;
  readonly uid: number;
  /** This end's own address (getsockname). */
  readonly address: InetAddress;
  readonly cookie: bigint;
  /** What the tenant reported in `closed` (claims, for statistics only). */
  closed: { bytesSent: bigint; bytesReceived: bigint; reset: boolean } | null;
}

export interface Circuit {
  readonly id: bigint;
  readonly type: SocketType;
  readonly memfd: number;
  readonly geometry: Geometry;
  readonly connector: CircuitEnd;
  readonly acceptor: CircuitEnd & { readonly reservation: bigint };
  readonly createdAt: number;
}

function portKey(tenant: string, type: SocketType, port: number): string {
  return `${type}\u0000${port}\u0000${tenant}`;
}

/** A circuit made ahead of time: its memfd and its two ends, not handed out yet. */
export interface FreshCircuit {
  readonly memfd: number;
  readonly geometry: Geometry;
  readonly ends: EndpointPair;
}

function geometryOf(c: CreatedCircuit): Geometry {
  return {
    layout: c.layout,
    memfdBytes: c.memfdBytes,
    ringAOffset: c.ringAOffset,
    ringABytes: c.ringABytes,
    ringBOffset: c.ringBOffset,
    ringBBytes: c.ringBBytes,
  };
}

function make(type: SocketType): FreshCircuit {
  const c = native.createCircuit(MODE[type], 0, 0);
  try {
    return { memfd: c.fd, geometry: geometryOf(c), ends: native.endpointPair(type === 'stream') };
  } catch (e) {
    native.closeFd(c.fd);
    throw e;
  }
}

/** Closes a fresh circuit that was never handed out. */
export function discard(f: FreshCircuit): void {
  for (const fd of [f.memfd, f.ends.connectorFd, f.ends.acceptorFd]) native.closeFd(fd);
}

export class CircuitTable {
  private nextId = 1n;
  private readonly byId = new Map<bigint, Circuit>();
  private readonly byCookie = new Map<bigint, { circuit: Circuit; role: 'connector' | 'acceptor' }>();
  /** portKey → live circuit ends whose own address has that port. */
  private readonly ports = new Map<string, Set<CircuitEnd>>();
  private readonly pool: Record<SocketType, FreshCircuit[]> = { stream: [], dgram: [] };
  private readonly refilling: Record<SocketType, boolean> = { stream: false, dgram: false };
  private stopped = false;
  private refillTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly onRemoved: (c: Circuit) => void,
    private readonly sweepEveryMs = 1000,
  ) {}

  start(): void {
    this.refill();
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    for (const list of Object.values(this.pool)) for (const f of list.splice(0)) discard(f);
    for (const c of this.byId.values()) native.closeFd(c.memfd);
    this.byId.clear();
    this.byCookie.clear();
    this.ports.clear();
  }

  get size(): number {
    return this.byId.size;
  }

  get pooled(): number {
    return this.pool.stream.length + this.pool.dgram.length;
  }

  all(): IterableIterator<Circuit> {
    return this.byId.values();
  }

  get(id: bigint): Circuit | undefined {
    return this.byId.get(id);
  }

  byEndpointCookie(cookie: bigint) {
    return this.byCookie.get(cookie);
  }

  /** A new circuit; the caller owns its fds until register() (or discard()). */
  fresh(type: SocketType): FreshCircuit {
    const f = this.pool[type].pop();
    this.queueRefill();
    return f ?? make(type);
  }

  newId(): bigint {
    return this.nextId++;
  }

  register(c: Circuit): void {
    this.byId.set(c.id, c);
    this.byCookie.set(c.connector.cookie, { circuit: c, role: 'connector' });
    this.byCookie.set(c.acceptor.cookie, { circuit: c, role: 'acceptor' });
    this.indexPorts(c, true);
  }

  /** Local addresses on `port` held by live circuits (they keep their ports, see reservations.ts). */
  onPort(tenant: string, type: SocketType, port: number): Iterable<PortUser> {
    return this.ports.get(portKey(tenant, type, port))?.keys() ?? [];
  }

  private indexPorts(c: Circuit, add: boolean): void {
    for (const e of [c.connector, c.acceptor]) {
      const k = portKey(e.tenant, c.type, e.address.port);
      let users = this.ports.get(k);
      if (add) {
        if (!users) this.ports.set(k, (users = new Set()));
        users.add(e);
      } else if (users) {
        users.delete(e);
        if (users.size === 0) this.ports.delete(k);
      }
    }
  }

  /** Drops a registered circuit that was never handed out (its memfd stays the caller's). */
  forget(c: Circuit): void {
    if (this.byId.get(c.id) !== c) return;
    this.byId.delete(c.id);
    this.byCookie.delete(c.connector.cookie);
    this.byCookie.delete(c.acceptor.cookie);
    this.indexPorts(c, false);
  }

  /** Sweep soon (a `closed` notice or a session's end suggests that something went away). */
  sweepSoon(): void {
    if (this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      this.sweep();
    }, 20);
    this.soonTimer.unref();
  }

  /** Drops every circuit whose two ends are both gone. */
  sweep(): void {
    if (this.byId.size === 0) return;
    let live: Set<bigint>;
    try {
      live = new Set(native.liveUnixCookies());
    } catch (e) {
      this.log.warn('circuits.sweep_failed', { error: (e as Error).message });
      return;
    }
    for (const c of [...this.byId.values()]) {
      if (live.has(c.connector.cookie) || live.has(c.acceptor.cookie)) continue;
      this.byId.delete(c.id);
      this.byCookie.delete(c.connector.cookie);
      this.byCookie.delete(c.acceptor.cookie);
      this.indexPorts(c, false);
      native.closeFd(c.memfd);
      this.onRemoved(c);
    }
  }

  /**
   * Tops the pools up on the thread pool, so the event loop stays free for
   * requests, a little later (batched, and not while the two sides of a
   * fresh grant are starting up).
   */
  private queueRefill(): void {
    if (this.refillTimer || this.stopped) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      this.startRefill();
    }, REFILL_DELAY_MS);
    this.refillTimer.unref();
  }

  private startRefill(): void {
    for (const type of ['stream', 'dgram'] as const) {
      const want = POOL_TARGET[type] - this.pool[type].length;
      if (want <= 0 || this.refilling[type] || this.stopped) continue;
      this.refilling[type] = true;
      native.prepareCircuits(MODE[type], want, (err, made) => {
        this.refilling[type] = false;
        const fresh = (made ?? []).map((c) => ({ memfd: c.fd, geometry: geometryOf(c), ends: c }));
        if (err) this.log.warn('circuits.pool_refill_failed', { error: err.message });
        if (this.stopped) return fresh.forEach(discard);
        this.pool[type].push(...fresh);
      });
    }
  }

  /** The first fill, at start. */
  private refill(): void {
    for (const type of ['stream', 'dgram'] as const) while (this.pool[type].length < POOL_TARGET[type]) this.pool[type].push(make(type));
  }
}
