/**
 * npm run bench -- connect [--runs N] [--iterations N]
 *
 * connect + accept + first byte + close between two processes, through the
 * switch operator (circuits) and over TCP on loopback, in the same run:
 * runs alternate (tcp, circuit, tcp, …), each reports the median of its
 * batches, and the summary compares the medians of the runs.  TCP runs in a
 * fresh network namespace with loopback up (TIME_WAIT and the ephemeral
 * ports are per namespace; never the machine's own), when we may create one.
 * The placement probe runs before and after (docs/performance.md).
 * Ends with `connect: circuit/tcp=R` (time ratio, smaller is better).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function option(args, name, fallback) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}: a positive integer`);
  return v;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function runBench(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
  const m = /median_us=([\d.]+) min_us=([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`unexpected output: ${r.stdout}`);
  return { median: Number(m[1]), min: Number(m[2]) };
}

function probe(bin) {
  const r = spawnSync(bin, ['probe'], { encoding: 'utf8' });
  return Number(/probe_ns=([\d.]+)/.exec(r.stdout ?? '')?.[1] ?? NaN);
}

/** A fresh network namespace for the TCP baseline, or null (then the machine's own, which we leave alone). */
function netnsPrefix() {
  if (process.getuid?.() !== 0) return null;
  const ok = spawnSync('unshare', ['--net', 'true']).status === 0;
  return ok ? ['unshare', '--net', 'sh', '-c', 'ip link set lo up && sysctl -qw net.ipv4.tcp_tw_reuse=1 && exec "$@"', 'sh'] : null;
}

async function startOperator(root, dir) {
  const log = fs.openSync(path.join(dir, 'operator.log'), 'a');
  const child = spawn(process.execPath, [path.join(root, 'operator/bin/switchboard.mjs'), 'operator', '--runtime-dir', dir, '--log-level', 'warn', '--metrics', '127.0.0.1:0'], {
    stdio: ['ignore', log, log],
  });
  const socket = path.join(dir, 'tenants', 'default', 'control.sock');
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!fs.existsSync(socket)) {
    child.kill('SIGKILL');
    throw new Error(`the operator did not start: ${fs.readFileSync(path.join(dir, 'operator.log'), 'utf8').slice(-2000)}`);
  }
  return { child, socket };
}

/** The operator's own view: mean time from reading a connect to sending its grant (its metrics). */
async function operatorSetupUs(dir) {
  try {
    const { metrics } = JSON.parse(fs.readFileSync(path.join(dir, 'operator.json'), 'utf8'));
    const text = await (await fetch(`http://${metrics}/metrics`)).text();
    const sum = Number(/^switchboard_connect_setup_seconds_sum (\S+)$/m.exec(text)?.[1]);
    const count = Number(/^switchboard_connect_setup_seconds_count (\S+)$/m.exec(text)?.[1]);
    return count > 0 ? (sum / count) * 1e6 : NaN;
  } catch {
    return NaN;
  }
}

export async function run(args, { root }) {
  const runs = option(args, '--runs', 5);
  const iterations = option(args, '--iterations', 2000);
  const bin = path.join(root, 'build', 'cmake', 'bin', 'sb-bench-connect');
  if (!fs.existsSync(bin)) {
    console.error(`connect: ${bin} is missing: run \`npm run build\``);
    return 1;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-connect-'));
  const netns = netnsPrefix();
  const { child, socket } = await startOperator(root, dir);
  const exited = new Promise((r) => child.once('exit', r));
  const results = { tcp: [], circuit: [] };
  try {
    const before = probe(bin);
    console.log(`connect: ${runs} runs x ${iterations} connections each; placement probe ${before.toFixed(0)} ns`);
    console.log(`connect: tcp ${netns ? 'in a fresh network namespace' : 'in this network namespace (not root)'}`);
    for (let i = 0; i < runs; i++) {
      const common = ['--iterations', String(iterations), '--batch', '100', '--warmup', '200'];
      const tcp = runBench([...(netns ?? []), bin, 'tcp', ...common, '--port', String(7300 + i)]);
      const circuit = runBench([bin, 'circuit', ...common, '--socket', socket, '--port', String(7400 + i)]);
      results.tcp.push(tcp);
      results.circuit.push(circuit);
      console.log(
        `connect: run ${i + 1}: tcp ${tcp.median.toFixed(1)} us (min ${tcp.min.toFixed(1)}), circuit ${circuit.median.toFixed(1)} us (min ${circuit.min.toFixed(1)})`,
      );
    }
    const after = probe(bin);
    const tcp = median(results.tcp.map((r) => r.median));
    const circuit = median(results.circuit.map((r) => r.median));
    console.log(`connect: placement probe before ${before.toFixed(0)} ns, after ${after.toFixed(0)} ns`);
    console.log(`connect: median per connection: tcp ${tcp.toFixed(1)} us, circuit ${circuit.toFixed(1)} us`);
    console.log(`connect: the operator's share (read request to grant sent, mean): ${(await operatorSetupUs(dir)).toFixed(1)} us`);
    console.log(`connect: circuit/tcp=${(circuit / tcp).toFixed(2)}`);
    return 0;
  } catch (e) {
    console.error(`connect: ${e.message}`);
    return 1;
  } finally {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
