/**
 * End-to-end harness: a real switch operator and real programs over circuits.
 *
 *   const op = await startOperator();                  // `switchboard operator` in a temp runtime dir
 *   const srv = startIsolated(op, PYTHON, ['-u', '-m', 'http.server', '0']);
 *   const line = await srv.waitForLine(/port (\d+)/);  // its output, line by line
 *   const r = await runIsolated(op, 'curl', [...]);     // a client to completion: status, stdout, stderr
 *   (await op.tenant()).connects_granted                // the operator's counters
 *   await srv.stop(); await op.stop();
 *
 * Programs run through the launcher, `switchboard run --runtime-dir DIR
 * --isolate -- CMD ARGS…`: each in a fresh network namespace with no
 * interface up, with the shim preloaded and pointed at the tenant's control
 * socket, so circuits are the only way their traffic can go.  Every process
 * is stopped by its own pid (SIGTERM to the launcher, which forwards it to the
 * program; SIGKILL to both by pid if that does not end them).
 *
 * Nothing is skipped: a missing program is an error that says to run
 * `node scripts/setup.mjs`, which installs it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SWITCHBOARD = path.join(ROOT, 'operator', 'bin', 'switchboard.mjs');

/** A program by name, from PATH (or /usr/sbin); throws with what to do when it is missing. */
export function tool(name: string): string {
  // The system python, not a version manager's shell-script shim around another one.
  if (name === 'python3' && fs.existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  throw new Error(`${name} is not installed: run \`node scripts/setup.mjs\` as root (it installs it)`);
}

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has exited (at once if it already has). */
function exitOf(child: ChildProcess): Promise<void> {
  return exited(child) ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** The pids of a process's children (/proc/PID/task/TID/children, every thread). */
export function childrenOf(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGTERM to this child's pid, then SIGKILL to it and (for a launcher) to its
 * program, by pid, if it has not exited after `graceMs`.
 */
async function stopByPid(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await Promise.race([exitOf(child).then(() => true), sleep(graceMs).then(() => false)])) return;
  for (const pid of childrenOf(child.pid!)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  child.kill('SIGKILL');
  await exitOf(child);
}

// ---------------------------------------------------------------- the operator

/** One tenant's entry in `switchboard status --json` (bigint counters arrive as strings). */
export interface TenantStatus {
  readonly name: string;
  readonly sessions: number;
  readonly circuits_open: number;
  /** Circuits created for this tenant's connects since the operator started. */
  readonly circuits_total: number;
  /** Connects of this tenant the operator granted (each one a new circuit). */
  readonly connects_granted: number;
  readonly connects_denied: number;
}

export interface Operator {
  readonly runtimeDir: string;
  readonly pid: number;
  /** What the operator logged on stderr so far (JSON lines). */
  log(): string;
  /** `switchboard status --json --runtime-dir DIR`, parsed. */
  status(): Promise<Record<string, unknown>>;
  /** One tenant's counters from `status` (numbers). */
  tenant(name?: string): Promise<TenantStatus>;
  /** `switchboard circuits --json`: the live circuits. */
  circuits(): Promise<Record<string, unknown>[]>;
  /** GET /metrics (startOperator({ metrics: true }) only): Prometheus text. */
  metrics(): Promise<string>;
  /** SIGTERM by pid, wait for the exit, remove the runtime directory. */
  stop(): Promise<void>;
}

/** Runs the switchboard CLI to completion; rejects with its stderr when it fails. */
function switchboardCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SWITCHBOARD, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`switchboard ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Starts `switchboard operator --runtime-dir <new temp dir> [--policy FILE]`
 * and waits until it has logged `operator.start` and its admin socket (and,
 * with the embedded policy, the default tenant's control socket) exists.
 */
export async function startOperator(opts: { policy?: string; timeoutMs?: number; metrics?: boolean } = {}): Promise<Operator> {
  const { dir: runtimeDir, remove } = tempDir('sb-e2e-');
  const args = [
    'operator',
    '--runtime-dir',
    runtimeDir,
    ...(opts.policy ? ['--policy', opts.policy] : []),
    // Prometheus on a free loopback port; `status` says which (Operator.metrics()).
    ...(opts.metrics ? ['--metrics', '127.0.0.1:0'] : []),
  ];
  const child = spawn(process.execPath, [SWITCHBOARD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const ready = () =>
    log.includes('"event":"operator.start"') &&
    fs.existsSync(path.join(runtimeDir, 'admin.sock')) &&
    (opts.policy !== undefined || fs.existsSync(path.join(runtimeDir, 'tenants', 'default', 'control.sock')));
  const until = Date.now() + (opts.timeoutMs ?? 20_000);
  while (!ready()) {
    if (exited(child) || Date.now() > until) {
      await stopByPid(child);
      remove();
      throw new Error(`the operator did not start (exit ${child.exitCode ?? 'none yet'}):\n${log}`);
    }
    await sleep(50);
  }
  const status = async () => JSON.parse(await switchboardCli(['status', '--json', '--runtime-dir', runtimeDir])) as Record<string, unknown>;
  return {
    runtimeDir,
    pid: child.pid!,
    log: () => log,
    status,
    async tenant(name = 'default') {
      const tenants = (await status()).tenants as Record<string, unknown>[];
      const t = tenants.find((x) => x.name === name);
      if (!t) throw new Error(`no tenant "${name}" in the operator's status`);
      const n = (k: string) => Number(t[k]);
      return {
        name,
        sessions: n('sessions'),
        circuits_open: n('circuits_open'),
        circuits_total: n('circuits_total'),
        connects_granted: n('connects_granted'),
        connects_denied: n('connects_denied'),
      };
    },
    async circuits() {
      return JSON.parse(await switchboardCli(['circuits', '--json', '--runtime-dir', runtimeDir])) as Record<string, unknown>[];
    },
    async metrics() {
      const address = (await status()).metrics;
      if (typeof address !== 'string') throw new Error('the operator serves no metrics (startOperator({ metrics: true }))');
      const r = await fetch(`http://${address}/metrics`);
      if (!r.ok) throw new Error(`GET /metrics: ${r.status}`);
      return r.text();
    },
    async stop() {
      await stopByPid(child, 10_000);
      remove();
    },
  };
}

// ---------------------------------------------------------------- isolated programs

export interface IsolatedOptions {
  /** Variables added to (or, with value undefined, removed from) the launcher's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** The tenant (default "default"). */
  readonly tenant?: string;
}

function launcherArgv(op: Operator, cmd: string, args: readonly string[], o: IsolatedOptions): string[] {
  return [SWITCHBOARD, 'run', '--runtime-dir', op.runtimeDir, '--isolate', ...(o.tenant ? ['--tenant', o.tenant] : []), '--', cmd, ...args];
}

function launcherEnv(o: IsolatedOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LD_PRELOAD; // the launcher puts the shim first; nothing of ours
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface Background {
  readonly child: ChildProcess;
  /** Output so far. */
  output(): { stdout: string; stderr: string };
  /**
   * The first complete line of stdout or stderr (already printed or still to
   * come) that matches; rejects when the program exits or `timeoutMs` passes first.
   */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Stops the program by pid (SIGTERM through the launcher; SIGKILL after 5 s) and waits for its exit. */
  stop(): Promise<void>;
}

/** Starts a long-running program (a server) isolated, over circuits. */
export function startIsolated(op: Operator, cmd: string, args: readonly string[], o: IsolatedOptions = {}): Background {
  const child = spawn(process.execPath, launcherArgv(op, cmd, args, o), { env: launcherEnv(o), cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[name]!.setEncoding('utf8').on('data', (d: string) => {
      out[name] += d;
      const parts = (partial + d).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      for (const w of waiters) w();
    });
  }
  child.once('exit', () => setImmediate(() => waiters.forEach((w) => w())));
  return {
    child,
    output: () => ({ ...out }),
    waitForLine(match, timeoutMs = 20_000) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find(test);
          if (line !== undefined) done(() => resolve(line));
          else if (exited(child)) done(() => reject(new Error(`${cmd} exited (${child.exitCode ?? child.signalCode}) before printing ${match}:\n${out.stdout}\n${out.stderr}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${cmd} did not print ${match} in ${timeoutMs} ms:\n${out.stdout}\n${out.stderr}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => stopByPid(child),
  };
}

export interface Result {
  /** Exit status (the launcher passes on the program's; 128+N when killed by signal N). */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly ms: number;
}

/** Runs a program (a client) isolated, over circuits, to completion or `timeoutMs` (then stopped by pid). */
export function runIsolated(
  op: Operator,
  cmd: string,
  args: readonly string[],
  o: IsolatedOptions & { timeoutMs?: number; input?: string | Buffer } = {},
): Promise<Result> {
  const start = Date.now();
  const child = spawn(process.execPath, launcherArgv(op, cmd, args, o), { env: launcherEnv(o), cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => {}); // a program that does not read its input
  child.stdin!.end(o.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopByPid(child);
  }, o.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 + os.constants.signals[signal] : null), stdout, stderr, timedOut, ms: Date.now() - start });
    };
    // 'close': the exit and the end of both pipes (all output read) — unless
    // something left behind holds the pipes: then 2 s after the exit.
    child.once('close', finish);
    child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), 2000).unref());
  });
}

/** A one-line description of a result, for assertion messages. */
export function describeResult(r: Result): string {
  return `exit ${r.status}${r.timedOut ? ' (timed out, stopped)' : ''} after ${r.ms} ms\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`;
}
