/**
 * The JavaScript half of the connect fast path (operator/native/src/fastpath.cc):
 * the native side answers the common `connect` itself, from tables this
 * class keeps current, and reports what it did in batches.
 *
 *  - decisions: set by grant.ts whenever JavaScript decides an unbound
 *    connect (allow: the destination's tenant and the source IP; deny: errno,
 *    rule and message), cleared on every policy reload;
 *  - listeners: set and removed by the exchange at listen, unlisten and free;
 *  - ephemeral ports: per (tenant, type), PORTS_PER_POOL free ports set aside
 *    for unbound connects.  They count as in use for every other choice of a
 *    port (JavaScript's own ephemeral ports), and an explicit bind takes one
 *    back (reclaim), so Linux's bind rules hold as before;
 *  - the pool of fresh circuits (circuit_pool.h), which JavaScript's own
 *    grants use too.
 *
 * Tenants are numbered for the native side (numbers are never reused).
 * Everything here runs on the event loop's thread, as does the native side:
 * after drain() JavaScript's tables and the native ones agree exactly.
 * Decisions change only right after a drain (grant.ts decides while handling
 * a message, which the exchange starts with a drain), so a grant record
 * always names a decision that is still here.
 */
import { type Geometry, type ShutdownHow, type SocketType, TYPES } from '../../../build/gen/ts/protocol.ts';
import { type InetAddress, ipBytes } from '../net/address.ts';
import {
  type FastDenial,
  native,
  type NativeControlSession,
  type NativeFastPath,
  type NativeFreshCircuit,
  type SessionRecord,
  type WireAddress,
} from '../native.ts';
import type { Circuit } from './circuits.ts';
import { type Reservation, ReservationTable } from './reservations.ts';

/** layout.h's enum sb_circuit_mode, which is also the protocol's socket_type. */
export const TYPE_CODE: Record<SocketType, number> = { stream: 1, dgram: 2 };
const TYPE_NAME: Record<number, SocketType> = { 1: 'stream', 2: 'dgram' };
/** Circuits kept ready per socket type (the background thread refills at half). */
const POOL_TARGET = [256, 4] as const;
/** Ephemeral ports set aside per tenant and type: far more than the connects between two drains. */
const PORTS_PER_POOL = 256;
/** How soon after a fast-path grant or denial JavaScript hears of it (audit lines, `switchboard circuits`, metrics). */
const REPORT_DELAY_MS = 10;
/** Decisions kept for the native side; beyond that they start over (a tenant connecting to ever new destinations). */
const MAX_DECISIONS = 4096;
/** fastpath.cc GrantRecord. */
const GRANT = {
  bytes: 128,
  circuit: 0,
  connectorCookie: 8,
  acceptorCookie: 16,
  listener: 24,
  memfdBytes: 32,
  ringAOffset: 40,
  ringBOffset: 48,
  session: 56,
  createdAt: 64,
  setupNs: 72,
  decision: 80,
  memfd: 84,
  ringABytes: 88,
  ringBBytes: 92,
  pid: 96,
  uid: 100,
  acceptorPid: 104,
  acceptorUid: 108,
  acceptorTenant: 112,
  replyErrno: 116,
  port: 120,
  layout: 122,
  type: 124,
  acceptorInet6: 125,
} as const;

/** shutdown_how's values (Linux's SHUT_*), as the TypeScript codec names them. */
const SHUTDOWN_HOW: readonly ShutdownHow[] = ['rd', 'wr', 'rdwr'];
/** fastpath.cc NoticeRecord. */
const NOTICE = { bytes: 40, circuit: 0, bytesSent: 8, bytesReceived: 16, session: 24, tenant: 32, type: 36, arg: 37 } as const;

export function wire(a: InetAddress): WireAddress {
  return [a.family, a.address, a.port];
}

/** What an allow decision's grants have in common: JavaScript builds their addresses from it. */
interface Allowed {
  readonly tenant: string;
  readonly dest: InetAddress;
  readonly source: InetAddress;
  /** dest as a listener bound to AF_INET6 sees it (grant.ts asSeenBy). */
  readonly dest6: InetAddress;
}

/** A grant the native side made, as the exchange registers it. */
export interface FastGrant {
  readonly circuit: Circuit;
  readonly session: number;
  readonly peer: InetAddress;
  readonly setupNs: number;
  /** 0, or why connect_granted could not be sent (the acceptor got its end all the same). */
  readonly replyErrno: number;
}

/** A `closed` or `shutdown` notice the native side took (no reply): JavaScript's accounting. */
export type FastNotice =
  | { readonly type: 'closed'; readonly session: number; readonly tenant: string; readonly circuit: bigint; readonly bytesSent: bigint; readonly bytesReceived: bigint; readonly reset: boolean }
  | { readonly type: 'shutdown'; readonly session: number; readonly tenant: string; readonly circuit: bigint; readonly how: ShutdownHow | number };

export class FastPath {
  readonly native: NativeFastPath;
  /** Circuits of one kind share one geometry object; its words as in the record (memfdBytes…ringBOffset, ring sizes, layout). */
  private geometry: Geometry | null = null;
  private readonly geometryWords = new Uint32Array(9);
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  /** The native side's ephemeral ports, by `${type} ${tenant}`; in step after every drain(). */
  private readonly ports = new Map<string, Set<number>>();
  /** Decisions handed down since the last clear, by destination; allow decisions by id. */
  private readonly decided = new Map<string, number>();
  private readonly allowed = new Map<number, Allowed>();
  private nextDecision = 1;

  constructor(backlogUnit: number, onReports: () => void) {
    this.native = new native.FastPath({ backlogUnit, pool: POOL_TARGET, reportDelayMs: REPORT_DELAY_MS }, onReports);
  }

  /** The tenant's number for the native side. */
  tenant(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  tenantName(id: number): string {
    return this.names[id] ?? `#${id}`;
  }

  /** A control connection whose unbound connects the native side may answer. */
  session(fd: number, id: number, tenant: string, cred: { pid: number; uid: number; gid: number }, onRecords: (r: SessionRecord[]) => void): NativeControlSession {
    return new native.ControlSession(this.native, fd, id, this.tenant(tenant), cred.pid, cred.uid, cred.gid, onRecords);
  }

  /** Hands a decision down (only right after a drain: see the file comment). */
  decide(
    tenant: string,
    type: SocketType,
    dest: InetAddress,
    d: { allow: true; toTenant: string; source: InetAddress } | { allow: false; errno: number; rule: string; message: string },
  ): void {
    const key = `${tenant} ${type} ${dest.family} ${dest.address} ${dest.port}`;
    const old = this.decided.get(key);
    if (old !== undefined) this.allowed.delete(old);
    else if (this.decided.size >= MAX_DECISIONS) this.clearDecisions();
    if (!d.allow) {
      this.decided.set(key, 0);
      this.native.decide(this.tenant(tenant), TYPE_CODE[type], wire(dest), d);
      return;
    }
    const id = this.nextDecision++;
    const dest6: InetAddress =
      dest.family === 'inet' ? { family: 'inet6', address: `::ffff:${dest.address}`, port: dest.port, flowinfo: 0, scopeId: 0 } : { ...dest, flowinfo: 0, scopeId: 0 };
    this.decided.set(key, id);
    this.allowed.set(id, { tenant, dest: dest.family === 'inet6' ? { ...dest, flowinfo: 0, scopeId: 0 } : dest, source: d.source, dest6 });
    this.native.decide(this.tenant(tenant), TYPE_CODE[type], wire(dest), { allow: true, id, toTenant: this.tenant(d.toTenant), source: wire(d.source) });
  }

  /** The policy changed (after a drain): every decision is made again, by JavaScript, at its next connect. */
  clearDecisions(): void {
    this.native.clearDecisions();
    this.decided.clear();
    this.allowed.clear();
  }

  listen(r: Reservation): void {
    this.native.listen(r.id, {
      tenant: this.tenant(r.tenant),
      type: TYPE_CODE[r.type],
      port: r.address.port,
      inet6: r.address.family === 'inet6',
      ip: ipBytes(r.address),
      v6only: r.options.includes('v6only'),
      backlog: r.backlog,
      fd: r.operatorFd,
      pid: r.pid,
      uid: r.uid,
    });
  }

  unlisten(r: Reservation): void {
    this.native.unlisten(r.id);
  }

  private key(tenant: string, type: SocketType): string {
    return `${type} ${tenant}`;
  }

  /** Whether `port` is set aside for the native side's unbound connects. */
  isPooled(tenant: string, type: SocketType, port: number): boolean {
    return this.ports.get(this.key(tenant, type))?.has(port) ?? false;
  }

  /** An explicit bind wants the port: take it back from the native side. */
  reclaim(tenant: string, type: SocketType, port: number): void {
    const set = this.ports.get(this.key(tenant, type));
    if (!set?.delete(port)) return;
    this.native.reclaimPort(this.tenant(tenant), TYPE_CODE[type], port);
  }

  /**
   * Once half of a tenant's ports are used, sets free ones aside again up to
   * PORTS_PER_POOL; `inUse(port)` says whether JavaScript knows a user of it.
   */
  topUp(tenant: string, type: SocketType, inUse: (port: number) => boolean): void {
    const k = this.key(tenant, type);
    let set = this.ports.get(k);
    if (!set) this.ports.set(k, (set = new Set()));
    if (set.size > PORTS_PER_POOL / 2) return;
    const pooled = set;
    const added: number[] = [];
    while (set.size < PORTS_PER_POOL) {
      const p = ReservationTable.ephemeral((q) => !pooled.has(q) && !inUse(q));
      if (p === 0) break;
      set.add(p);
      added.push(p);
    }
    if (added.length > 0) this.native.addPorts(this.tenant(tenant), TYPE_CODE[type], added);
  }

  takeFresh(type: SocketType): NativeFreshCircuit {
    return this.native.takeFresh(TYPE_CODE[type]);
  }

  /** Closes fds (memfds of circuits gone) off the event loop. */
  closeSoon(fds: readonly number[]): void {
    if (fds.length > 0) this.native.closeSoon(Int32Array.from(fds));
  }

  /**
   * What the native side did since the last drain, in this order: each grant
   * (its memfd is the caller's now), each notice, then the denials and how
   * many messages it took; null when nothing happened.  Its ports leave the
   * pools.
   */
  drain(onGrant: (g: FastGrant) => void, onNotice: (n: FastNotice) => void): { messages: number; grants: number; denials: readonly FastDenial[] } | null {
    const d = this.native.drain();
    if (!d) return null;
    const v = new DataView(d.grants);
    for (let at = 0; at < v.byteLength; at += GRANT.bytes) onGrant(this.grant(v, at));
    const n = new DataView(d.notices);
    for (let at = 0; at < n.byteLength; at += NOTICE.bytes) {
      const common = {
        session: n.getFloat64(at + NOTICE.session, true),
        tenant: this.tenantName(n.getUint32(at + NOTICE.tenant, true)),
        circuit: n.getBigUint64(at + NOTICE.circuit, true),
      };
      const arg = n.getUint8(at + NOTICE.arg);
      onNotice(
        n.getUint8(at + NOTICE.type) === TYPES.closed.code
          ? { type: 'closed', ...common, bytesSent: n.getBigUint64(at + NOTICE.bytesSent, true), bytesReceived: n.getBigUint64(at + NOTICE.bytesReceived, true), reset: arg === 1 }
          : { type: 'shutdown', ...common, how: SHUTDOWN_HOW[arg] ?? arg },
      );
    }
    return { messages: d.messages, grants: v.byteLength / GRANT.bytes, denials: d.denials };
  }

  private grant(v: DataView, at: number): FastGrant {
    const a = this.allowed.get(v.getUint32(at + GRANT.decision, true))!;
    const type = TYPE_NAME[v.getUint8(at + GRANT.type)]!;
    const port = v.getUint16(at + GRANT.port, true);
    this.ports.get(this.key(a.tenant, type))?.delete(port);
    const circuit: Circuit = {
      id: v.getBigUint64(at + GRANT.circuit, true),
      type,
      memfd: v.getInt32(at + GRANT.memfd, true),
      geometry: this.geometryAt(v, at),
      connector: {
        tenant: a.tenant,
        pid: v.getInt32(at + GRANT.pid, true),
        uid: v.getUint32(at + GRANT.uid, true),
        address: { ...a.source, port },
        cookie: v.getBigUint64(at + GRANT.connectorCookie, true),
        closed: null,
      },
      acceptor: {
        tenant: this.tenantName(v.getUint32(at + GRANT.acceptorTenant, true)),
        pid: v.getInt32(at + GRANT.acceptorPid, true),
        uid: v.getUint32(at + GRANT.acceptorUid, true),
        address: v.getUint8(at + GRANT.acceptorInet6) ? a.dest6 : a.dest,
        cookie: v.getBigUint64(at + GRANT.acceptorCookie, true),
        closed: null,
        reservation: v.getBigUint64(at + GRANT.listener, true),
      },
      createdAt: v.getFloat64(at + GRANT.createdAt, true),
    };
    return {
      circuit,
      session: v.getFloat64(at + GRANT.session, true),
      peer: a.dest,
      setupNs: v.getFloat64(at + GRANT.setupNs, true),
      replyErrno: v.getInt32(at + GRANT.replyErrno, true),
    };
  }

  /** The record's geometry: the previous grant's object when the words are the same (no allocation). */
  private geometryAt(v: DataView, at: number): Geometry {
    const words = this.geometryWords;
    let same = this.geometry !== null && words[8] === v.getUint16(at + GRANT.layout, true);
    for (let i = 0; i < 6 && same; i++) same = words[i] === v.getUint32(at + GRANT.memfdBytes + 4 * i, true);
    same = same && words[6] === v.getUint32(at + GRANT.ringABytes, true) && words[7] === v.getUint32(at + GRANT.ringBBytes, true);
    if (same) return this.geometry!;
    for (let i = 0; i < 6; i++) words[i] = v.getUint32(at + GRANT.memfdBytes + 4 * i, true);
    words[6] = v.getUint32(at + GRANT.ringABytes, true);
    words[7] = v.getUint32(at + GRANT.ringBBytes, true);
    words[8] = v.getUint16(at + GRANT.layout, true);
    return (this.geometry = {
      layout: words[8]!,
      memfdBytes: v.getBigUint64(at + GRANT.memfdBytes, true),
      ringAOffset: v.getBigUint64(at + GRANT.ringAOffset, true),
      ringABytes: words[6]!,
      ringBOffset: v.getBigUint64(at + GRANT.ringBOffset, true),
      ringBBytes: words[7]!,
    });
  }

  close(): void {
    this.native.close();
    this.ports.clear();
  }
}
