/**
 * Address reservations: what bind() made, per tenant (each tenant is its own
 * address space, like a network namespace), with Linux's rules for when two
 * sockets may share a port:
 *
 *  - addresses overlap when they are equal or either is a wildcard of the
 *    other's family; an AF_INET6 wildcard without IPV6_V6ONLY covers AF_INET
 *    too; an IPv4-mapped IPv6 address is that IPv4 address;
 *  - SO_REUSEPORT on both, by the same user: always allowed;
 *  - SO_REUSEADDR on both: allowed for datagram sockets, and for stream
 *    sockets while the existing one is not listening (and at listen() time,
 *    two overlapping stream sockets cannot both listen);
 *  - port 0 takes a free port from Linux's default ephemeral range.
 *
 * Each reservation owns the operator's end of its port pair; the shim's end
 * is the program's socket.  When every holder of the shim's end has closed
 * it, the operator's end hangs up and the reservation is freed.
 */
import type { BindOptions, SocketType } from '../../../build/gen/ts/protocol.ts';
import { type InetAddress, ipBytes, sameIp } from '../net/address.ts';
import type { Watcher } from '../native.ts';

/** Linux's default net.ipv4.ip_local_port_range. */
export const EPHEMERAL_LOW = 32768;
export const EPHEMERAL_HIGH = 60999;

/** A connect parked because the listener's backlog is full (see grant.ts). */
export interface Waiter {
  readonly wake: () => void;
}

export interface Reservation {
  readonly id: bigint;
  readonly tenant: string;
  readonly type: SocketType;
  readonly address: InetAddress;
  readonly options: readonly BindOptions[];
  /** The binder's uid (SO_PEERCRED): SO_REUSEPORT sharing needs the same user. */
  readonly uid: number;
  /** The binder's pid (SO_PEERCRED), for logs and `switchboard circuits`. */
  readonly pid: number;
  listening: boolean;
  backlog: number;
  /** The operator's end of the port pair: `incoming` is written here. */
  readonly operatorFd: number;
  /** SO_COOKIE of the program's end, to recognise it in `claim`. */
  readonly shimCookie: bigint;
  watcher: Watcher | null;
  /** A datagram receiver's mailbox (protocol: mailbox_reply): its memfd and the count of `incoming` written. */
  mailbox: { readonly fd: number; count: bigint } | null;
  readonly waiters: Waiter[];
  readonly createdAt: number;
}

/** Something else holding a local port: a circuit endpoint's own address. */
export interface PortUser {
  readonly tenant: string;
  readonly address: InetAddress;
}

function v6only(r: { options: readonly BindOptions[] }): boolean {
  return r.options.includes('v6only');
}

/** Whether some address is in both (Linux's rules, see the file comment). */
export function overlaps(
  a: InetAddress,
  aV6only: boolean,
  b: InetAddress,
  bV6only: boolean,
): boolean {
  const x = ipBytes(a);
  const y = ipBytes(b);
  const wildX = x.every((v) => v === 0);
  const wildY = y.every((v) => v === 0);
  if (x.length === y.length) return wildX || wildY || sameIp(a, b);
  // One IPv4 (or v4-mapped), one real IPv6: only a dual-stack IPv6 wildcard covers IPv4.
  return x.length === 16 ? wildX && !aV6only : wildY && !bV6only;
}

export class ReservationTable {
  private nextId = 1n;
  private readonly byId = new Map<bigint, Reservation>();
  private readonly byCookie = new Map<bigint, Reservation>();
  /** tenant → type → port → reservations */
  private readonly byPort = new Map<string, Map<number, Reservation[]>>();

  newId(): bigint {
    return this.nextId++;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Whether this instance ever handed out `id`. */
  issued(id: bigint): boolean {
    return id > 0n && id < this.nextId;
  }

  all(): IterableIterator<Reservation> {
    return this.byId.values();
  }

  get(id: bigint): Reservation | undefined {
    return this.byId.get(id);
  }

  byShimCookie(cookie: bigint): Reservation | undefined {
    return this.byCookie.get(cookie);
  }

  private key(tenant: string, type: SocketType): string {
    return `${type}\u0000${tenant}`;
  }

  /** The tenant's reservations of `type` by port. */
  portsOf(tenant: string, type: SocketType): ReadonlyMap<number, readonly Reservation[]> | undefined {
    return this.byPort.get(this.key(tenant, type));
  }

  onPort(tenant: string, type: SocketType, port: number): readonly Reservation[] {
    return this.byPort.get(this.key(tenant, type))?.get(port) ?? [];
  }

  add(r: Reservation): void {
    this.byId.set(r.id, r);
    this.byCookie.set(r.shimCookie, r);
    const k = this.key(r.tenant, r.type);
    let ports = this.byPort.get(k);
    if (!ports) this.byPort.set(k, (ports = new Map()));
    ports.set(r.address.port, [...(ports.get(r.address.port) ?? []), r]);
  }

  remove(r: Reservation): void {
    this.byId.delete(r.id);
    this.byCookie.delete(r.shimCookie);
    const ports = this.byPort.get(this.key(r.tenant, r.type));
    const left = (ports?.get(r.address.port) ?? []).filter((x) => x !== r);
    if (left.length > 0) ports?.set(r.address.port, left);
    else ports?.delete(r.address.port);
  }

  /**
   * Whether binding `address` (port already chosen) conflicts, given the
   * reservations on that port and the circuit endpoints using it.
   */
  bindConflict(
    tenant: string,
    type: SocketType,
    address: InetAddress,
    options: readonly BindOptions[],
    uid: number,
    circuitPorts: (port: number) => Iterable<PortUser>,
  ): Reservation | PortUser | undefined {
    const only6 = options.includes('v6only');
    const reuseAddr = options.includes('reuse_addr');
    const reusePort = options.includes('reuse_port');
    const clash = this.onPort(tenant, type, address.port).find((r) => {
      if (!overlaps(address, only6, r.address, v6only(r))) return false;
      if (reusePort && r.options.includes('reuse_port') && r.uid === uid) return false;
      if (reuseAddr && r.options.includes('reuse_addr')) return type === 'stream' && r.listening;
      return true;
    });
    if (clash) return clash;
    // A connected socket keeps its port: re-binding it needs SO_REUSEADDR (the classic server restart case).
    if (reuseAddr) return undefined;
    for (const u of circuitPorts(address.port)) if (overlaps(address, only6, u.address, false)) return u;
    return undefined;
  }

  /** At listen(): another overlapping stream listener on the port, unless both share it with SO_REUSEPORT. */
  listenConflict(r: Reservation): Reservation | undefined {
    if (r.type !== 'stream') return undefined;
    return this.onPort(r.tenant, r.type, r.address.port).find(
      (o) =>
        o !== r &&
        o.listening &&
        overlaps(r.address, v6only(r), o.address, v6only(o)) &&
        !(r.options.includes('reuse_port') && o.options.includes('reuse_port') && r.uid === o.uid),
    );
  }

  /** A port in the ephemeral range for which `free(port)` holds, starting at a random offset; 0 if none. */
  static ephemeral(free: (port: number) => boolean): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      if (free(port)) return port;
    }
    return 0;
  }

  /** Listening reservations of `tenant` that accept a connection to `dest`: exact address first, then wildcards. */
  listenersFor(tenant: string, type: SocketType, dest: InetAddress): Reservation[] {
    const on = this.onPort(tenant, type, dest.port).filter((r) => r.listening && overlaps(dest, false, r.address, v6only(r)));
    const exact = on.filter((r) => !ipBytes(r.address).every((v) => v === 0));
    return exact.length > 0 ? exact : on;
  }
}
