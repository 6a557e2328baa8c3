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
 * made ahead of time by a background thread of the native addon
 * (circuit_pool.h), so nothing is created on the connect path; the memfds
 * of circuits gone are closed there too.  Most circuits are granted by the
 * native fast path and registered here when the exchange drains its reports.
 */
import type { Geometry, SocketType } from '../../../build/gen/ts/protocol.ts';
import type { Logger } from '../log.ts';
import type { InetAddress } from '../net/address.ts';
import { native, type NativeFreshCircuit } from '../native.ts';
import type { FastPath } from './fastpath.ts';
import type { PortUser } from './reservations.ts';

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

/** Ports indexed by number per tenant: building a string key per lookup cost more than the rest of a grant's bookkeeping. */
function portKey(type: SocketType, port: number): number {
  return (type === 'stream' ? 0 : 0x10000) + port;
}

/** A circuit made ahead of time: its memfd and its two ends, not handed out yet. */
export type FreshCircuit = NativeFreshCircuit;

/** Closes a fresh circuit that was never handed out. */
export function discard(f: FreshCircuit): void {
  for (const fd of [f.memfd, f.connectorFd, f.acceptorFd]) native.closeFd(fd);
}

export class CircuitTable {
  private readonly byId = new Map<bigint, Circuit>();
  private readonly byCookie = new Map<bigint, { circuit: Circuit; role: 'connector' | 'acceptor' }>();
  /** tenant → portKey → live circuit ends whose own address has that port. */
  private readonly ports = new Map<string, Map<number, Set<CircuitEnd>>>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly fast: FastPath,
    /** Brings in what the fast path granted, before a sweep looks at the table. */
    private readonly sync: () => void,
    private readonly onRemoved: (c: Circuit) => void,
    private readonly sweepEveryMs = 1000,
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    for (const c of this.byId.values()) native.closeFd(c.memfd);
    this.byId.clear();
    this.byCookie.clear();
    this.ports.clear();
  }

  get size(): number {
    return this.byId.size;
  }

  get pooled(): number {
    return this.fast.native.pooled()[0];
  }

  /** Circuits made on the connect path because the pool was empty (its thread did not keep up). */
  get poolMisses(): number {
    return this.fast.native.pooled()[1];
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

  /** A new circuit (from the pool, or made now); the caller owns its fds until register() (or discard()). */
  fresh(type: SocketType): FreshCircuit {
    return this.fast.takeFresh(type);
  }

  /** Circuit ids come from the native side, which grants circuits too. */
  newId(): bigint {
    return this.fast.native.newCircuitId();
  }

  register(c: Circuit): void {
    this.byId.set(c.id, c);
    this.byCookie.set(c.connector.cookie, { circuit: c, role: 'connector' });
    this.byCookie.set(c.acceptor.cookie, { circuit: c, role: 'acceptor' });
    this.indexPorts(c, true);
  }

  /** Local addresses on `port` held by live circuits (they keep their ports, see reservations.ts). */
  onPort(tenant: string, type: SocketType, port: number): Iterable<PortUser> {
    return this.ports.get(tenant)?.get(portKey(type, port))?.keys() ?? [];
  }

  portInUse(tenant: string, type: SocketType, port: number): boolean {
    return this.ports.get(tenant)?.has(portKey(type, port)) === true;
  }

  private indexPorts(c: Circuit, add: boolean): void {
    this.indexPort(c.type, c.connector, add);
    this.indexPort(c.type, c.acceptor, add);
  }

  private indexPort(type: SocketType, e: CircuitEnd, add: boolean): void {
    let byPort = this.ports.get(e.tenant);
    if (!byPort) {
      if (!add) return;
      this.ports.set(e.tenant, (byPort = new Map()));
    }
    const k = portKey(type, e.address.port);
    let users = byPort.get(k);
    if (add) {
      if (!users) byPort.set(k, (users = new Set()));
      users.add(e);
    } else if (users) {
      users.delete(e);
      if (users.size === 0) byPort.delete(k);
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
    this.sync();
    if (this.byId.size === 0) return;
    let live: Set<bigint>;
    try {
      live = new Set(native.liveUnixCookies());
    } catch (e) {
      this.log.warn('circuits.sweep_failed', { error: (e as Error).message });
      return;
    }
    const memfds: number[] = [];
    for (const c of [...this.byId.values()]) {
      if (live.has(c.connector.cookie) || live.has(c.acceptor.cookie)) continue;
      this.byId.delete(c.id);
      this.byCookie.delete(c.connector.cookie);
      this.byCookie.delete(c.acceptor.cookie);
      this.indexPorts(c, false);
      memfds.push(c.memfd);
      this.onRemoved(c);
    }
    // Freeing a memfd's memory is slow (thousands a second under load): off the event loop.
    this.fast.closeSoon(memfds);
  }
}
