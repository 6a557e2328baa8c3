/**
 * A real operator daemon for a test: `switchboard operator` as a child
 * process with its own runtime directory (and policy file, if given), stopped
 * by its pid.  Nothing is mocked: tests talk to it over its real sockets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest, type AdminAnswer, type AdminRequest } from '../../src/daemon/admin.ts';
import { ROOT, runtimeFiles, type RuntimeFiles } from '../../src/paths.ts';

export const CLI = path.join(ROOT, 'operator', 'bin', 'switchboard.mjs');

export interface StartOptions {
  /** YAML text of a policy file; none: the embedded default. */
  readonly policy?: string;
  readonly args?: readonly string[];
  /** Reuse a runtime directory (restart tests). */
  readonly dir?: string;
  /** Wait for these tenants' sockets (default: "default" when no policy is given). */
  readonly tenants?: readonly string[];
}

export class OperatorProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly files: RuntimeFiles,
    readonly policyFile: string | undefined,
    private readonly logFile: string,
  ) {}

  static async start(o: StartOptions = {}): Promise<OperatorProcess> {
    const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sb-op-test-'));
    let policyFile: string | undefined;
    if (o.policy !== undefined) {
      policyFile = path.join(dir, '..', `${path.basename(dir)}-policy.yaml`);
      fs.writeFileSync(policyFile, o.policy);
    }
    const logFile = `${dir}.log`;
    const log = fs.openSync(logFile, 'a');
    const args = [CLI, 'operator', '--runtime-dir', dir, ...(policyFile ? ['--policy', policyFile] : []), ...(o.args ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const op = new OperatorProcess(child, dir, runtimeFiles(dir), policyFile, logFile);
    await op.waitReady(o.tenants ?? (o.policy === undefined ? ['default'] : []));
    return op;
  }

  get pid(): number {
    return this.child.pid!;
  }

  socket(tenant = 'default'): string {
    return this.files.tenantSocket(tenant);
  }

  log(): string {
    return fs.readFileSync(this.logFile, 'utf8');
  }

  /** The log as JSON objects. */
  events(): Record<string, unknown>[] {
    return this.log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** The pid in operator.json (which a crashed predecessor may have left behind). */
  private statePid(): number | undefined {
    try {
      return (JSON.parse(fs.readFileSync(this.files.state, 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  }

  private async waitReady(tenants: readonly string[]): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (this.child.exitCode !== null) throw new Error(`the operator exited (${this.child.exitCode}):\n${this.log()}`);
      if (this.statePid() === this.pid && tenants.every((t) => fs.existsSync(this.socket(t)))) return;
      await sleep(50);
    }
    throw new Error(`the operator did not become ready:\n${this.log()}`);
  }

  admin(req: AdminRequest): Promise<AdminAnswer> {
    return adminRequest(this.files.admin, req);
  }

  async status(): Promise<Record<string, any>> {
    const a = await this.admin({ cmd: 'status' });
    if (!a.ok) throw new Error(a.error);
    return a.status as Record<string, any>;
  }

  /** Open fds of the daemon, from /proc. */
  fdCount(): number {
    return fs.readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** SIGTERM (clean stop) and wait for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill(signal);
    return exited;
  }

  /** Stops it and removes its files. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.rmSync(this.logFile, { force: true });
    if (this.policyFile) fs.rmSync(this.policyFile, { force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true (or the deadline passes); the condition itself decides, not a timing threshold. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(25);
  }
}
