/**
 * Tenant sockets: one SOCK_SEQPACKET listening socket per tenant,
 * <runtime>/tenants/<name>/control.sock, in a directory of its own owned by
 * the tenant's user (mode 0700, or 0750 for a group socket) with the socket
 * itself 0600 (or 0660).  A client's tenant is the socket it came through —
 * nothing it says — and its SO_PEERCRED goes into the log.
 */
import fs from 'node:fs';
import type { Logger } from '../log.ts';
import { native, type Watcher } from '../native.ts';
import type { RuntimeFiles } from '../paths.ts';
import type { TenantSpec } from '../policy/types.ts';
import type { Credentials } from './session.ts';

export interface TenantSocket {
  readonly name: string;
  spec: TenantSpec;
  readonly path: string;
  readonly fd: number;
  readonly watcher: Watcher;
}

export class TenantSockets {
  private readonly byName = new Map<string, TenantSocket>();

  constructor(
    private readonly files: RuntimeFiles,
    private readonly log: Logger,
    private readonly onPeer: (tenant: string, fd: number, cred: Credentials) => void,
  ) {}

  get(name: string): TenantSocket | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<TenantSocket> {
    return this.byName.values();
  }

  /** Opens (or, for an existing one, re-permissions) the tenant's socket. */
  open(spec: TenantSpec): TenantSocket {
    const existing = this.byName.get(spec.name);
    if (existing) {
      existing.spec = spec;
      this.permission(spec);
      return existing;
    }
    const dir = this.files.tenantDir(spec.name);
    const path = this.files.tenantSocket(spec.name);
    fs.mkdirSync(this.files.tenantsDir, { recursive: true, mode: 0o755 });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.rmSync(path, { force: true });
    const fd = native.listenSeqpacket(path, 512);
    const t: TenantSocket = {
      name: spec.name,
      spec,
      path,
      fd,
      watcher: new native.Watcher(fd, () => this.accept(spec.name, fd)),
    };
    this.byName.set(spec.name, t);
    try {
      this.permission(spec);
    } catch (e) {
      this.close(spec.name);
      throw e;
    }
    this.log.info('tenant.open', { tenant: spec.name, socket: path, uid: spec.uid, gid: spec.gid, mode: spec.mode.toString(8) });
    return t;
  }

  private permission(spec: TenantSpec): void {
    const dir = this.files.tenantDir(spec.name);
    const path = this.files.tenantSocket(spec.name);
    const mine = process.getuid?.() === spec.uid && process.getgid?.() === spec.gid;
    try {
      if (!mine) {
        fs.chownSync(dir, spec.uid, spec.gid);
        fs.chownSync(path, spec.uid, spec.gid);
      }
    } catch (e) {
      throw new Error(`tenant ${spec.name}: cannot give its socket to uid ${spec.uid} gid ${spec.gid} (${(e as Error).message}); only root can hand sockets to other users`);
    }
    fs.chmodSync(dir, spec.mode === 0o660 ? 0o750 : 0o700);
    fs.chmodSync(path, spec.mode);
  }

  private accept(tenant: string, lfd: number): void {
    for (;;) {
      let peer;
      try {
        peer = native.acceptPeer(lfd);
      } catch (e) {
        this.log.error('tenant.accept_failed', { tenant, error: (e as Error).message });
        return;
      }
      if (!peer) return;
      this.onPeer(tenant, peer.fd, { pid: peer.pid, uid: peer.uid, gid: peer.gid });
    }
  }

  /** Stops accepting for a tenant (removed by a reload); its sessions go on until they end. */
  close(name: string): void {
    const t = this.byName.get(name);
    if (!t) return;
    this.byName.delete(name);
    t.watcher.close();
    native.closeFd(t.fd);
    fs.rmSync(t.path, { force: true });
    fs.rmSync(this.files.tenantDir(name), { recursive: true, force: true });
    this.log.info('tenant.close', { tenant: name });
  }

  closeAll(): void {
    for (const name of [...this.byName.keys()]) this.close(name);
  }
}
