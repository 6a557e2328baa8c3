/**
 * What the benchmarks of real programs share (bench/apps, bench/udp):
 * starting and stopping processes (each its own process group, stopped by
 * its pid), clients with a deadline, CPU time and context switches of
 * process trees, the machine's busy time and the wait for a quiet moment,
 * GNU time around clients, a fresh network namespace with loopback up, a
 * private operator, and the placement probe.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const TIME = '/usr/bin/time'; // GNU time (Debian package time)
export const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * What every program benchmark checks before it starts (`name` prefixes the
 * messages): it runs as root (the kernel baseline needs a fresh network
 * namespace, and --isolate one per program), the shim is built when circuits
 * are measured, and `tools` and GNU time are installed.  Returns the tools'
 * paths by name, or null after saying what is missing.
 */
export function preflight(name, { root, baseline, needShim = true, tools, setupHint = '' }) {
  if (process.getuid?.() !== 0) {
    console.error(`${name}: run as root: the ${baseline} baseline needs a fresh network namespace, and --isolate one per program`);
    return null;
  }
  const shim = process.env.SWITCHBOARD_SHIM ?? path.join(root, 'build', 'cmake', 'lib', 'libswitchboard.so');
  if (needShim && !fs.existsSync(shim)) {
    console.error(`${name}: ${shim} is missing: run \`npm run build\``);
    return null;
  }
  const found = {};
  const missing = [];
  for (const t of tools) {
    found[t] = which(t);
    if (!found[t]) missing.push(t);
  }
  if (!fs.existsSync(TIME)) missing.push(`${TIME} (package time)`);
  if (missing.length) {
    console.error(`${name}: missing ${missing.join(', ')}: run \`node scripts/setup.mjs\`${setupHint}`);
    return null;
  }
  return found;
}

export function which(name) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin']) {
    const p = dir && path.join(dir, name);
    if (p && fs.existsSync(p)) return p;
  }
  return null;
}

/** The environment without the shim or its variables (the TCP side, and what the launcher starts from). */
export function cleanEnv() {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_') && k !== 'SWITCHBOARD_DEBUG' && k !== 'SWITCHBOARD_SHIM') delete env[k];
  return env;
}

// ---------------------------------------------------------------- processes

/** Everything started and not yet stopped, by pid (each is its own process group). */
const live = new Map();

/**
 * Starts argv in its own process group, output to logFile (or collected when
 * logFile is null).  Returns { pid, child, exited, out() }.
 */
export function start(argv, { env, logFile = null, what = argv[0] } = {}) {
  const fd = logFile ? fs.openSync(logFile, 'a') : null;
  const child = spawn(argv[0], argv.slice(1), {
    env,
    detached: true,
    stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
  });
  if (fd !== null) fs.closeSync(fd);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const p = { pid: child.pid, child, what, status: null, signal: null };
  p.exited = new Promise((resolve) => {
    child.once('error', (e) => {
      p.status = 127;
      stderr += String(e.message);
      resolve(p);
    });
    child.once('close', (status, signal) => {
      p.status = status;
      p.signal = signal;
      resolve(p);
    });
  });
  p.out = () => ({ stdout, stderr });
  if (child.pid) live.set(child.pid, p);
  return p;
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process group by its leader's pid: SIGTERM, up to `graceMs`, then SIGKILL. */
export async function stop(p, graceMs = 5000) {
  if (!p?.pid || !live.has(p.pid)) return;
  const signal = (s) => {
    try {
      process.kill(-p.pid, s);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (groupAlive(p.pid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(p.pid)) {
    signal('SIGKILL');
    while (groupAlive(p.pid) && Date.now() < deadline + 5000) await sleep(50);
  }
  await Promise.race([p.exited, sleep(2000)]);
  live.delete(p.pid);
}

export async function stopAll() {
  for (const p of [...live.values()].reverse()) await stop(p);
}

/**
 * Runs a client to completion (its own process group, killed after timeoutMs: a hang is an error).
 * onOutput(stdout so far, p), if given, is called as the client's standard output arrives.
 */
export async function runClient(argv, { env, timeoutMs, what, onOutput = null }) {
  const p = start(argv, { env, what });
  if (onOutput) p.child.stdout?.on('data', () => onOutput(p.out().stdout, p));
  const timer = setTimeout(() => {
    p.timedOut = true;
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, timeoutMs);
  const t0 = process.hrtime.bigint();
  await p.exited;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(timer);
  await stop(p, 1000); // anything the client left in its group
  const { stdout, stderr } = p.out();
  if (p.timedOut) throw new Error(`${what}: no result after ${timeoutMs / 1000} s (hung); stderr: ${stderr.trim().slice(-2000)}`);
  if (p.status !== 0) throw new Error(`${what}: exit ${p.status ?? p.signal}; stderr: ${stderr.trim().slice(-2000)}; stdout: ${stdout.trim().slice(-1000)}`);
  return { stdout, stderr, wall };
}

// ---------------------------------------------------------------- CPU time

/**
 * CPU seconds (user+system, all threads) and context switches (voluntary:
 * the task slept; involuntary: it was preempted) of pid's process tree,
 * leaving out processes named in `skip`.
 */
export function treeStats(rootPid, skip = new Set()) {
  const procs = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const comm = s.slice(s.indexOf('(') + 1, close);
      const f = s.slice(close + 2).split(' '); // f[0] is field 3 (state)
      procs.set(Number(e), { ppid: Number(f[1]), comm, cpu: (Number(f[11]) + Number(f[12])) / TICK });
    } catch {
      /* exited meanwhile */
    }
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, q] of procs) if (!tree.has(pid) && tree.has(q.ppid)) (tree.add(pid), (grew = true));
  }
  const sum = { cpu: 0, vcsw: 0, ivcsw: 0 };
  for (const pid of tree) {
    const q = procs.get(pid);
    if (!q || skip.has(q.comm)) continue;
    sum.cpu += q.cpu;
    try {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const st = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        sum.vcsw += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
        sum.ivcsw += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
      }
    } catch {
      /* exited meanwhile */
    }
  }
  return sum;
}

export const diff = (a, b) => ({ cpu: b.cpu - a.cpu, vcsw: b.vcsw - a.vcsw, ivcsw: b.ivcsw - a.ivcsw });

/** Busy CPU seconds of the whole machine so far (/proc/stat: everything but idle and iowait). */
export function machineBusy() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal || 0)) / TICK;
}

/**
 * Other sessions share this machine: before a measurement, wait (up to
 * maxWaitS) until the machine has been nearly idle (< 0.25 CPUs busy) for a
 * second.  Returns the busy CPUs of the last second looked at.
 */
export async function waitIdle(maxWaitS) {
  const deadline = Date.now() + maxWaitS * 1000;
  for (;;) {
    const b0 = machineBusy();
    await sleep(1000);
    const busy = machineBusy() - b0;
    if (busy < 0.25 || Date.now() >= deadline) return busy;
  }
}

/**
 * The client under GNU time (the same wrapper on both transports): its CPU
 * seconds and context switches, written to a file.
 */
export function timed(argv, timesFile) {
  return [TIME, '-o', timesFile, '-f', '%U %S %w %c', ...argv];
}

export function readTimes(file) {
  const [user, sys, vcsw, ivcsw] = fs.readFileSync(file, 'utf8').trim().split('\n').pop().trim().split(/\s+/).map(Number);
  return { cpu: user + sys, user, sys, vcsw, ivcsw };
}

// ---------------------------------------------------------------- the two transports


/**
 * A fresh network namespace with loopback up, held by `unshare --net ... sleep`
 * (never the machine's own namespace or its settings): `prefix` runs a command
 * in it (`nsenter`), `close()` ends it.
 */
export async function netns() {
  const holder = start(['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 100000'], {
    env: cleanEnv(),
    what: 'netns holder',
  });
  for (let i = 0; i < 200; i++) {
    if (holder.out().stdout.includes('up')) break;
    if (holder.status !== null) break;
    await sleep(20);
  }
  if (!holder.out().stdout.includes('up')) {
    await stop(holder);
    throw new Error(`could not create a network namespace: ${holder.out().stderr.trim()}`);
  }
  return {
    holder,
    prefix: ['nsenter', `--net=/proc/${holder.pid}/ns/net`, '--'],
    close: () => stop(holder),
  };
}

const cli = (root) => [process.execPath, path.join(root, 'operator/bin/switchboard.mjs')];

/** `switchboard <cmd> --json` against a private operator's runtime directory. */
export function operatorQuery(root, runtime, cmd = 'status') {
  const [node, ...args] = cli(root);
  const r = spawnSync(node, [...args, cmd, '--json', '--runtime-dir', runtime], {
    encoding: 'utf8',
    env: cleanEnv(),
  });
  if (r.status !== 0) throw new Error(`switchboard ${cmd} failed: ${(r.stderr || r.stdout).trim()}`);
  return JSON.parse(r.stdout);
}

export const operatorStatus = (root, runtime) => operatorQuery(root, runtime, 'status');

/**
 * One request to a private operator's admin socket (<runtime>/admin.sock,
 * newline-delimited JSON: operator/src/daemon/admin.ts), e.g. {cmd: 'status'}
 * or {cmd: 'circuits'}: what `switchboard status|circuits --json` print, in
 * milliseconds and without starting a process (counters come as strings).
 */
export function adminRequest(runtime, req, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path.join(runtime, 'admin.sock'));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the operator in ${runtime} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const a = JSON.parse(buf.slice(0, nl));
        if (a.ok) resolve(a);
        else reject(new Error(`the operator: ${a.error}`));
      } catch (e) {
        reject(e);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * A private operator (the embedded default policy) in `runtime`, its log in
 * runtime/operator.log; resolves once its default tenant's socket exists.
 */
export async function startOperator(root, runtime) {
  const operator = start([...cli(root), 'operator', '--runtime-dir', runtime, '--log-level', 'warn'], {
    env: cleanEnv(),
    logFile: path.join(runtime, 'operator.log'),
    what: 'operator',
  });
  const socket = path.join(runtime, 'tenants', 'default', 'control.sock');
  for (let i = 0; i < 300 && !fs.existsSync(socket) && operator.status === null; i++) await sleep(50);
  if (!fs.existsSync(socket)) throw new Error(`the operator did not start: ${fs.readFileSync(path.join(runtime, 'operator.log'), 'utf8').slice(-2000)}`);
  return operator;
}

/** `switchboard run --runtime-dir <runtime> --isolate --`: a program's own namespace without interfaces. */
export const isolatedPrefix = (root, runtime) => [...cli(root), 'run', '--runtime-dir', runtime, '--isolate', '--'];

export const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : 'n/a');

/** The placement probe (bench/common/probe.c through sb-bench-connect): ns per cache-line round trip. */
export function probe(root) {
  const bin = path.join(root, 'build', 'cmake', 'bin', 'sb-bench-connect');
  if (!fs.existsSync(bin)) return NaN;
  const r = spawnSync(bin, ['probe'], { encoding: 'utf8' });
  return Number(/probe_ns=([\d.]+)/.exec(r.stdout ?? '')?.[1] ?? NaN);
}
