/**
 * The switch operator: one run of the daemon.  Owns the runtime directory
 * (tenant sockets, admin socket, operator.json), the policy, the exchange
 * (reservations and circuits), sessions and metrics.
 *
 *   const op = new Operator({ runtimeDir, policyFile, metrics: '127.0.0.1:9464', log });
 *   await op.start();   … op.reload() on SIGHUP … await op.stop() on SIGTERM
 *
 * Circuits do not depend on the operator once granted: stopping it (or its
 * crash) leaves them working; new connects fail until an operator is back.
 */
import fs from 'node:fs';
import { formatAddress } from '../net/address.ts';
import type { Logger } from '../log.ts';
import { native } from '../native.ts';
import { OPERATOR_VERSION, runtimeFiles, type RuntimeFiles } from '../paths.ts';
import { defaultPolicy, loadPolicyFile } from '../policy/load.ts';
import { PolicyError, type Policy, type TenantSpec } from '../policy/types.ts';
import { AdminServer, adminRequest, type AdminAnswer, type AdminRequest } from './admin.ts';
import { Exchange } from './exchange.ts';
import { Metrics } from './metrics.ts';
import { Session, type Credentials } from './session.ts';
import { TenantSockets } from './tenants.ts';

export interface OperatorOptions {
  readonly runtimeDir: string;
  /** A YAML policy; none: the embedded default. */
  readonly policyFile?: string | undefined;
  /** HOST:PORT for Prometheus metrics. */
  readonly metrics?: string | undefined;
  readonly log: Logger;
  readonly connectTimeoutMs?: number;
}

const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export class Operator {
  readonly files: RuntimeFiles;
  private policy: Policy;
  readonly exchange: Exchange;
  private readonly metrics = new Metrics();
  private readonly tenants: TenantSockets;
  private readonly admin: AdminServer;
  private readonly sessions = new Map<number, Session>();
  private nextSession = 1;
  /** Tenants created on demand (default policy): kept across reloads while the policy allows them. */
  private readonly onDemand = new Map<string, TenantSpec>();
  metricsAddress: string | null = null;
  private readonly log: Logger;

  constructor(private readonly o: OperatorOptions) {
    this.log = o.log;
    this.files = runtimeFiles(o.runtimeDir);
    this.policy = this.loadPolicy();
    this.exchange = new Exchange({
      log: o.log,
      metrics: this.metrics,
      policy: () => this.policy,
      connectTimeoutMs: o.connectTimeoutMs ?? 127_000,
      session: (id) => this.sessions.get(id),
    });
    this.metrics.beforeCollect = () => {
      this.exchange.sync();
      this.exchange.countDatagrams();
    };
    this.tenants = new TenantSockets(this.files, o.log, (t, fd, cred) => this.openSession(t, fd, cred));
    this.admin = new AdminServer(this.files.admin, (r) => this.answer(r));
  }

  private loadPolicy(): Policy {
    return this.o.policyFile ? loadPolicyFile(this.o.policyFile) : defaultPolicy();
  }

  /** Refuses to start over a live operator; cleans up after a dead one. */
  private async claimRuntimeDir(): Promise<void> {
    fs.mkdirSync(this.files.dir, { recursive: true, mode: 0o755 });
    if (fs.existsSync(this.files.admin)) {
      const alive = await adminRequest(this.files.admin, { cmd: 'status' }, 2000).then(
        () => true,
        () => false,
      );
      if (alive) throw new Error(`an operator is already running in ${this.files.dir} (see ${this.files.state})`);
    }
    fs.rmSync(this.files.tenantsDir, { recursive: true, force: true });
  }

  async start(): Promise<void> {
    await this.claimRuntimeDir();
    await this.admin.listen();
    try {
      for (const spec of this.policy.tenants.values()) this.tenants.open(spec);
      this.exchange.start();
      if (this.o.metrics) this.metricsAddress = await this.metrics.serve(this.o.metrics);
    } catch (e) {
      await this.stop();
      throw e;
    }
    fs.writeFileSync(
      this.files.state,
      `${JSON.stringify({ pid: process.pid, instance: Buffer.from(this.exchange.instance).toString('hex'), version: OPERATOR_VERSION, policy: this.policy.source, metrics: this.metricsAddress }, null, 2)}\n`,
    );
    this.log.info('operator.start', {
      pid: process.pid,
      version: OPERATOR_VERSION,
      runtime_dir: this.files.dir,
      policy: this.policy.source,
      tenants: [...this.policy.tenants.keys()],
      metrics: this.metricsAddress,
    });
  }

  async stop(): Promise<void> {
    for (const s of [...this.sessions.values()]) s.close('operator stopping');
    this.tenants.closeAll();
    this.exchange.stop();
    await this.admin.close();
    await this.metrics.close();
    fs.rmSync(this.files.state, { force: true });
    this.log.info('operator.stop', { pid: process.pid });
  }

  /** SIGHUP: a new policy for new decisions; sessions, reservations and circuits stay as they are. */
  reload(): AdminAnswer {
    let next: Policy;
    try {
      next = this.loadPolicy();
    } catch (e) {
      const error = e instanceof PolicyError ? e.message : (e as Error).message;
      this.log.error('policy.reload_failed', { policy: this.o.policyFile ?? 'embedded default', error });
      return { ok: false, error };
    }
    const keep = new Map(next.tenants);
    if (next.tenantsOnDemand) for (const [n, spec] of this.onDemand) if (!keep.has(n)) keep.set(n, spec);
    for (const t of [...this.tenants.all()]) if (!keep.has(t.name)) this.tenants.close(t.name);
    const errors: string[] = [];
    for (const spec of keep.values()) {
      try {
        this.tenants.open(spec);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    this.policy = next;
    this.exchange.policyChanged();
    this.log.info('policy.reload', { policy: next.source, tenants: [...keep.keys()], errors });
    return errors.length ? { ok: false, error: errors.join('\n') } : { ok: true };
  }

  private openSession(tenant: string, fd: number, cred: Credentials): void {
    const id = this.nextSession++;
    const s = new Session(id, fd, tenant, cred, this.log, this.exchange.handle, {
      read: (sessionFd, onRecords) => this.exchange.fast.session(sessionFd, id, tenant, cred, onRecords),
      sync: () => this.exchange.sync(),
      onMessage: () => this.exchange.counters.messagesReceived++,
      onRejected: () => {
        this.exchange.counters.messagesRejected++;
        this.metrics.rejected.inc();
      },
      onClose: (x) => {
        this.sessions.delete(x.id);
        this.metrics.sessions.set(this.sessions.size);
        this.exchange.circuits.sweepSoon();
      },
    });
    this.sessions.set(id, s);
    this.exchange.counters.sessionsOpened++;
    this.metrics.sessions.set(this.sessions.size);
    this.log.info('session.open', { session: id, tenant, pid: cred.pid, uid: cred.uid, gid: cred.gid });
  }

  /** The tenant's socket; with tenants on demand, creates a tenant of the operator's user. */
  tenant(name: string, create: boolean): AdminAnswer {
    if (!TENANT_NAME.test(name)) return { ok: false, error: `"${name}" is not a tenant name (letters, digits, "_", "." and "-")` };
    let t = this.tenants.get(name);
    if (!t && create && this.policy.tenantsOnDemand) {
      const spec: TenantSpec = { name, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mode: 0o600, addresses: [], line: 0 };
      t = this.tenants.open(spec);
      this.onDemand.set(name, spec);
    }
    if (!t) {
      const known = [...this.tenants.all()].map((x) => x.name).join(', ');
      return { ok: false, error: `unknown tenant "${name}" (the policy ${this.policy.source} defines: ${known || 'none'})` };
    }
    return { ok: true, tenant: { name, socket: t.path, uid: t.spec.uid, gid: t.spec.gid } };
  }

  private answer(r: AdminRequest): AdminAnswer {
    this.exchange.sync();
    switch (r.cmd) {
      case 'status':
        return { ok: true, status: this.status() };
      case 'circuits':
        return { ok: true, circuits: this.circuitList() };
      case 'reload':
        return this.reload();
      case 'tenant':
        return this.tenant(String(r.name), r.create === true);
      default:
        return { ok: false, error: `unknown command ${JSON.stringify((r as { cmd: unknown }).cmd)}` };
    }
  }

  status() {
    const x = this.exchange;
    let fds = -1;
    try {
      fds = fs.readdirSync('/proc/self/fd').length - 1; // readdir's own fd
    } catch {
      // not Linux /proc: leave -1
    }
    const tenants = [...this.tenants.all()].map((t) => {
      const c = x.counters.of(t.name);
      const rs = [...x.reservations.all()].filter((r) => r.tenant === t.name);
      return {
        name: t.name,
        socket: t.path,
        uid: t.spec.uid,
        gid: t.spec.gid,
        mode: t.spec.mode.toString(8).padStart(4, '0'),
        addresses: t.spec.addresses.map((a) => a.text),
        sessions: [...this.sessions.values()].filter((s) => s.tenant === t.name).length,
        reservations: rs.length,
        listeners: rs.filter((r) => r.listening).map((r) => ({ id: r.id, type: r.type, address: formatAddress(r.address), backlog: r.backlog })),
        circuits_open: x.openCircuitsOf(t.name),
        circuits_total: c.circuitsTotal,
        connects_granted: c.connectsGranted,
        connects_denied: c.connectsDenied,
      };
    });
    return {
      pid: process.pid,
      version: OPERATOR_VERSION,
      instance: Buffer.from(x.instance).toString('hex'),
      uptime_ms: Date.now() - x.startedAt,
      runtime_dir: this.files.dir,
      policy: this.policy.source,
      metrics: this.metricsAddress,
      tenants,
      publish: this.policy.publish.map((p) => ({ host: `${p.hostAddress}:${p.hostPort}`, tenant: p.tenant, port: p.port, type: p.type, active: false })),
      sessions: this.sessions.size,
      reservations: x.reservations.size,
      circuits_open: x.circuits.size,
      circuit_pool: x.circuits.pooled,
      circuit_pool_misses: x.circuits.poolMisses,
      messages_received: x.counters.messagesReceived,
      fast_path_answered: x.counters.fastPathAnswered,
      messages_rejected: x.counters.messagesRejected,
      sessions_opened: x.counters.sessionsOpened,
      fds,
      rss_bytes: process.memoryUsage.rss(),
    };
  }

  circuitList() {
    const now = Date.now();
    return [...this.exchange.circuits.all()].map((c) => {
      let counters: BigUint64Array | null = null;
      try {
        counters = native.ringCounters(c.memfd);
      } catch {
        counters = null;
      }
      const end = (e: typeof c.connector) => ({ tenant: e.tenant, pid: e.pid, uid: e.uid, address: formatAddress(e.address), closed: e.closed });
      return {
        id: c.id,
        type: c.type,
        age_ms: now - c.createdAt,
        connector: end(c.connector),
        acceptor: { ...end(c.acceptor), reservation: c.acceptor.reservation },
        // Ring counters live in memory the tenants write: statistics, not proof.
        bytes: counters ? { connector_to_acceptor: counters[0]!, acceptor_to_connector: counters[2]! } : null,
        unread: counters ? { connector_to_acceptor: counters[0]! - counters[1]!, acceptor_to_connector: counters[2]! - counters[3]! } : null,
        datagrams: counters && c.type === 'dgram' ? { connector_to_acceptor: counters[4]!, acceptor_to_connector: counters[5]! } : null,
        // Datagrams the sender dropped because the receiver's ring was full (UDP's receive-buffer errors).
        dropped: counters && c.type === 'dgram' ? { connector_to_acceptor: counters[6]!, acceptor_to_connector: counters[7]! } : null,
        ring_bytes: { a: c.geometry.ringABytes, b: c.geometry.ringBBytes },
      };
    });
  }
}
