/**
 * npm run bench -- udp [--runs N] [--quick] [--duration S] [--msg-size B] [--mps N] [--clients N] [--outstanding N]
 *                      [--named-threads N] [--only sockperf|dns] [--transport udp|circuit|both]
 *                      [--wait-idle S] [--retries N]
 *
 * Real, unmodified programs over datagram circuits and over kernel UDP on
 * loopback, in the same run, with the same client binaries:
 *
 *   sockperf  `sockperf server` and `sockperf ping-pong -m 64 -t 5 --mps 10000000 --full-rtt`:
 *             UDP round trips, p50 / avg / p99 / p99.9 (µs), round trips/s
 *   dns       BIND 9 `named` (authoritative for a small zone written here,
 *             recursion off) and `dnsperf -c 4 -q 100 -l 5`: queries/s,
 *             average latency, lost queries
 *
 * Circuits: a private operator (`switchboard operator --runtime-dir <tmp>`);
 * the server and the client each run under `switchboard run --isolate`, i.e.
 * in their own network namespace without interfaces, so only circuits can
 * carry their datagrams; the operator's `connects_granted` must move by at
 * least the client's socket count during the client's run (datagram circuits
 * are granted as connects), or the measurement fails.  UDP: server and client
 * in one fresh network namespace with loopback up, without the shim.
 *
 * Per figure and run the transports alternate (which one goes first rotates
 * from run to run) and every server is fresh; named must first answer one
 * query.  The machine is shared: before each client the bench waits for a
 * quiet second (--wait-idle S, default 60, --quick 15, 0 no wait), records
 * how many CPUs other work used meanwhile, and above 0.3 CPUs measures again
 * (--retries N, default 2; the last counts).  Each measurement records CPU
 * time and voluntary context switches of the client, of the server's process
 * tree and, over circuits, of the operator: over sockperf's timed part (from
 * /proc, when it prints "Starting test" and "Test end"), over dnsperf's whole
 * run (GNU time; dnsperf buffers its output).  Over circuits it also records
 * the datagram circuits to the server's port with their datagram (and, where
 * the operator reports them, dropped) counts, asked of the operator's admin
 * socket near the end of the client's run and after it.  Medians over runs;
 * ratios are ratios of medians.  Writes every measurement to
 * build/bench/udp-<timestamp>.json and ends with
 *
 *   udp: sockperf rtt udp/circuit=R
 *   udp: dns qps circuit/udp=R
 *
 * (both "larger is better for the circuit"; rtt compares the medians of
 * sockperf's p50 round trips, as bench/ring compares median round trips).
 * A measurement that fails (a server that never binds or answers, a client
 * that fails or hangs, no circuits granted) is recorded with its error and
 * the run goes on; the exit status is then 1.  Needs root, `npm run build`
 * (`npm run bench` builds first) and sockperf, dnsperf, named (bind9), GNU
 * time.  bench/udp/README.md says more.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  adminRequest,
  cleanEnv,
  diff,
  fmt,
  isolatedPrefix,
  machineBusy,
  median,
  netns,
  probe,
  readTimes,
  runClient,
  sleep,
  start,
  startOperator,
  stop,
  stopAll,
  timed,
  treeStats,
  waitIdle,
  preflight,
} from '../common/programs.mjs';
import { parseDnsperf, parseSockperf, queryFile, zoneFile } from './parse.mjs';

const USAGE =
  'usage: npm run bench -- udp [--runs N] [--quick] [--duration S] [--msg-size B] [--mps N] [--clients N] [--outstanding N] ' +
  '[--named-threads N] [--only sockperf|dns] [--transport udp|circuit|both] [--wait-idle S] [--retries N]';
const BUSY_OTHERS = 0.3; // CPUs of other work during a measurement that make it count as disturbed
const ZONE = 'bench.test';

function options(args) {
  const o = {
    runs: 3,
    quick: false,
    duration: 5,
    msgSize: 64,
    mps: 10_000_000,
    clients: 4,
    outstanding: 100,
    namedThreads: 0, // 0: named's default (one worker per CPU)
    only: null,
    transports: ['udp', 'circuit'],
    waitIdle: 60,
    retries: 2,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a}: a positive number`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Math.round(num());
    else if (a === '--duration') o.duration = Math.ceil(num()); // sockperf takes whole seconds
    else if (a === '--msg-size') o.msgSize = Math.round(num());
    else if (a === '--mps') o.mps = Math.round(num());
    else if (a === '--clients') o.clients = Math.round(num());
    else if (a === '--outstanding') o.outstanding = Math.round(num());
    else if (a === '--named-threads') o.namedThreads = Math.round(num());
    else if (a === '--only') o.only = args[++i];
    else if (a === '--transport') {
      const t = args[++i];
      if (!['udp', 'circuit', 'both'].includes(t)) throw new Error('--transport: udp, circuit or both');
      o.transports = t === 'both' ? ['udp', 'circuit'] : [t];
    } else if (a === '--wait-idle') o.waitIdle = Number(args[++i]);
    else if (a === '--retries') o.retries = Number(args[++i]);
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (o.only !== null && !['sockperf', 'dns'].includes(o.only)) throw new Error('--only: sockperf or dns');
  if (!(o.retries >= 0 && o.retries <= 9)) throw new Error('--retries: 0 to 9');
  if (o.runs > 40) throw new Error('--runs: at most 40');
  if (o.msgSize < 14 || o.msgSize > 65507) throw new Error('--msg-size: 14 (sockperf\'s header) to 65507 bytes');
  if (!(o.waitIdle >= 0)) throw new Error('--wait-idle: seconds, 0 to not wait');
  if (o.quick) {
    if (!args.includes('--runs')) o.runs = 1;
    if (!args.includes('--duration')) o.duration = 2;
    if (!args.includes('--wait-idle')) o.waitIdle = 15;
  }
  return o;
}

// ---------------------------------------------------------------- the two transports

const ZERO = { cpu: 0, vcsw: 0, ivcsw: 0 };

/** Kernel UDP: a fresh network namespace with loopback up; `ss` says when the server has bound. */
async function udpNamespace() {
  const ns = await netns();
  return {
    name: 'udp',
    env: cleanEnv(),
    prefix: ns.prefix,
    async waitBound(port, server) {
      for (let i = 0; i < 300; i++) {
        if (server.status !== null) throw new Error(`${server.what} exited (${server.status ?? server.signal}) before binding`);
        const r = spawnSync(ns.prefix[0], [...ns.prefix.slice(1), 'ss', '-Huln', `sport = :${port}`], { encoding: 'utf8' });
        if (r.status === 0 && r.stdout.trim()) return;
        await sleep(30);
      }
      throw new Error(`${server.what}: no UDP socket on port ${port} after 9 s`);
    },
    granted: () => null,
    circuitsTo: async () => null,
    operatorStats: () => ZERO,
    close: ns.close,
  };
}

/**
 * Circuits: the private operator's runtime directory; each program under
 * `switchboard run --isolate`.  The bench asks the operator through its admin
 * socket (milliseconds, no process started), so it can look while a client runs.
 */
function circuitTransport(root, runtime, operator) {
  const tenant = async () => (await adminRequest(runtime, { cmd: 'status' })).status.tenants.find((t) => t.name === 'default');
  return {
    name: 'circuit',
    env: cleanEnv(),
    prefix: isolatedPrefix(root, runtime),
    async waitBound(port, server) {
      // the shim announces a bound datagram socket to the operator right after bind (docs/protocol.md)
      for (let i = 0; i < 150; i++) {
        if (server.status !== null) throw new Error(`${server.what} exited (${server.status ?? server.signal}) before binding`);
        if (operator.status !== null) throw new Error('the operator exited');
        if ((await tenant()).listeners.some((l) => l.type === 'dgram' && l.address.endsWith(`:${port}`))) return;
        await sleep(100);
      }
      throw new Error(`${server.what}: no datagram reservation on port ${port} at the operator after 15 s (does the shim carry UDP yet?)`);
    },
    granted: async () => BigInt((await tenant()).connects_granted),
    /**
     * The datagram circuits whose acceptor is on `port`, by id, with their
     * counters (statistics the tenants write, not proof).
     */
    async circuitsTo(port) {
      const { circuits } = await adminRequest(runtime, { cmd: 'circuits' });
      const mine = circuits.filter((c) => c.type === 'dgram' && String(c.acceptor?.address ?? '').endsWith(`:${port}`));
      const each = (v) => (v ? { to_server: Number(v.connector_to_acceptor), to_client: Number(v.acceptor_to_connector) } : null);
      return new Map(mine.map((c) => [c.id, { datagrams: each(c.datagrams), dropped: each(c.dropped) }]));
    },
    operatorStats: () => treeStats(operator.pid),
    async close() {},
  };
}

/**
 * Circuits seen in several looks (a circuit may be gone once its client has
 * exited): per circuit its largest counts, then summed.
 */
function mergeCircuits(looks) {
  const by = new Map();
  for (const look of looks) {
    for (const [id, c] of look ?? []) {
      const had = by.get(id);
      const max = (a, b) => (a && b ? { to_server: Math.max(a.to_server, b.to_server), to_client: Math.max(a.to_client, b.to_client) } : a ?? b);
      by.set(id, had ? { datagrams: max(had.datagrams, c.datagrams), dropped: max(had.dropped, c.dropped) } : c);
    }
  }
  const all = [...by.values()];
  const sum = (k) =>
    all.some((c) => c[k])
      ? { to_server: all.reduce((n, c) => n + (c[k]?.to_server ?? 0), 0), to_client: all.reduce((n, c) => n + (c[k]?.to_client ?? 0), 0) }
      : null;
  return { count: all.length, datagrams: sum('datagrams') ?? { to_server: 0, to_client: 0 }, dropped: sum('dropped') };
}

// ---------------------------------------------------------------- the programs

/**
 * Waits until named's log says it runs (zones loaded).  named listens only on
 * the addresses of interfaces it finds (getifaddrs): if it found none with
 * 127.0.0.1, it says so, and this fails at once.
 */
async function namedStarted(t, port, server, log) {
  for (let i = 0; ; i++) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    if (/not listening on any interfaces/.test(text)) {
      throw new Error(`named (${t.name}) found no interface with 127.0.0.1 to listen on (getifaddrs; under the shim, the circuit network's loopback)`);
    }
    if (/\brunning\s*$/m.test(text)) return;
    if (server.status !== null || /exiting \(due to fatal error\)/.test(text)) {
      throw new Error(`named (${t.name}) did not start: ${text.trim().split('\n').slice(-6).join(' | ')}`);
    }
    if (i > 300) throw new Error(`named (${t.name}): not running after 30 s: ${text.trim().split('\n').slice(-4).join(' | ')}`);
    await sleep(100);
  }
}

/**
 * Asks named once over the same transport, with dnsperf itself (one query,
 * NOERROR expected): the measuring client, so nothing else need be installed.
 */
async function namedReady(t, port, server, log, o) {
  const listeners = /using (\d+) UDP listeners? per interface/.exec(fs.readFileSync(log, 'utf8'))?.[1];
  const r = await runClient([...t.prefix, o.tools.dnsperf, '-s', '127.0.0.1', '-p', String(port), '-d', o.oneQuery, '-n', '1', '-t', '3'], {
    env: t.env,
    timeoutMs: 30000,
    what: `dnsperf, one query (${t.name})`,
  });
  if (!/Queries completed:\s+1 /.test(r.stdout) || !/NOERROR 1 /.test(r.stdout)) {
    throw new Error(`named (${t.name}) did not answer one query: ${r.stdout.trim().split('\n').slice(-12).join(' | ')}`);
  }
  return { udp_listeners: Number(listeners) };
}

const FIGURES = {
  sockperf: {
    minCircuits: 1,
    server(t, dir, port, o) {
      return { argv: [o.tools.sockperf, 'server', '-i', '127.0.0.1', '-p', String(port)] };
    },
    started: async () => {},
    ready: async () => ({}),
    client(t, port, o) {
      // --mps: sockperf sizes its table of send times for (1 + t) x mps messages, and with its default
      // (max) it stops with "_seqN > m_maxSequenceNo" once a run goes faster than its built-in maximum,
      // which circuits do; a cap far above any rate reached (10 M/s: 100 ns round trips) paces nothing
      return [
        o.tools.sockperf, 'ping-pong',
        '-i', '127.0.0.1',
        '-p', String(port),
        '-t', String(o.duration),
        '-m', String(o.msgSize),
        '--mps', String(o.mps),
        '--full-rtt',
      ];
    },
    timeoutMs: (o) => (o.duration + 30) * 1000,
    window: [/Starting test/, /Test end/], // sockperf's timed part, its [Total Run]
    parse: (out) => parseSockperf(out),
  },
  dns: {
    minCircuits: 0, // set from --clients
    server(t, dir, port, o) {
      const d = path.join(dir, `named-${t.name}-${port}`);
      fs.mkdirSync(d, { recursive: true });
      const conf = path.join(d, 'named.conf');
      fs.writeFileSync(
        conf,
        `options {
  directory "${d}";
  pid-file none;
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
};
controls { };
zone "${ZONE}" { type primary; file "${path.join(dir, `${ZONE}.zone`)}"; };
`,
      );
      // -g: foreground, logs to stderr; as root and without -u it stays root (its files are in our temp dir)
      const argv = [o.tools.named, '-g', '-c', conf, ...(o.namedThreads ? ['-n', String(o.namedThreads)] : [])];
      return { argv, log: path.join(dir, `dns-${t.name}-${port}-server.log`) };
    },
    started: namedStarted,
    ready: namedReady,
    client(t, port, o) {
      return [
        o.tools.dnsperf,
        '-s', '127.0.0.1',
        '-p', String(port),
        '-d', o.queryFile,
        '-l', String(o.duration),
        '-c', String(o.clients),
        '-q', String(o.outstanding),
        '-O', 'suppress=timeouts,congestion,sendfailed,sockready,unexpected',
      ];
    },
    timeoutMs: (o) => (o.duration + 5 + 30) * 1000, // dnsperf waits up to its 5 s query timeout at the end
    parse: (out, o) => parseDnsperf(out, o.expected),
  },
};

/** One measurement: a fresh server, readiness, one client run, CPU accounting, circuit check. */
async function measure(fig, t, port, o) {
  const spec = FIGURES[fig];
  const tag = `${fig} ${t.name}`;
  const srv = spec.server(t, o.dir, port, o);
  const log = srv.log ?? path.join(o.dir, `${fig}-${t.name}-${port}-server.log`);
  const server = start([...t.prefix, ...srv.argv], { env: t.env, logFile: log, what: `${fig} server (${t.name})` });
  try {
    await spec.started(t, port, server, log);
    await t.waitBound(port, server);
    const info = await spec.ready(t, port, server, log, o);
    const skip = new Set(['node', 'nsenter', 'unshare', 'time']); // the launchers, not the programs
    const idleBefore = o.waitIdle > 0 ? await waitIdle(o.waitIdle) : NaN;
    const granted0 = await t.granted();
    // a client that says when its timed part starts and ends (spec.window) is accounted over exactly
    // that part, from /proc: its own set-up (sockperf's table of send times, its 2 s sleep) is left out
    const snap = (clientPid) => ({
      at: process.hrtime.bigint(),
      busy: machineBusy(),
      srv: treeStats(server.pid, skip),
      cli: clientPid ? treeStats(clientPid, skip) : null,
      op: t.operatorStats(),
    });
    const marks = {};
    // over circuits, the circuits' counters: looked at near the end of the client's run (and after it),
    // while the client still holds its circuit
    const looks = [];
    const look = () => looks.push(t.circuitsTo(port).catch(() => null));
    const onOutput = spec.window
      ? (out, p) => {
          if (!marks.start && spec.window[0].test(out)) marks.start = snap(p.pid);
          if (marks.start && !marks.end && spec.window[1].test(out)) {
            marks.end = snap(p.pid);
            look();
          }
        }
      : null;
    const lookTimer = spec.window ? null : setTimeout(look, Math.max(0, o.duration * 1000 - 300));
    const s0 = snap(null);
    const timesFile = path.join(o.dir, `times-${fig}-${t.name}-${port}`);
    // the outer `time` also counts the launcher (switchboard run, or nsenter): not the client, not other work
    const r = await runClient(timed([...t.prefix, ...timed(spec.client(t, port, o), timesFile)], `${timesFile}.outer`), {
      env: t.env,
      timeoutMs: spec.timeoutMs(o),
      what: `${fig} client (${t.name})`,
      onOutput,
    }).finally(() => clearTimeout(lookTimer));
    const s1 = snap(null);
    const whole = readTimes(timesFile);
    let sv, op, cli, busy, launcher, window;
    if (marks.start && marks.end) {
      window = Number(marks.end.at - marks.start.at) / 1e9;
      busy = marks.end.busy - marks.start.busy;
      sv = diff(marks.start.srv, marks.end.srv);
      op = diff(marks.start.op, marks.end.op);
      cli = diff(marks.start.cli, marks.end.cli);
      launcher = 0;
    } else {
      if (spec.window) throw new Error(`${tag}: the client never said when its timed part started and ended`);
      window = r.wall;
      busy = s1.busy - s0.busy;
      sv = diff(s0.srv, s1.srv);
      op = diff(s0.op, s1.op);
      cli = { cpu: whole.cpu, vcsw: whole.vcsw, ivcsw: whole.ivcsw };
      launcher = readTimes(`${timesFile}.outer`).cpu - whole.cpu;
    }
    const granted = granted0 === null ? null : Number((await t.granted()) - granted0);
    look();
    const circuits = granted === null ? null : mergeCircuits(await Promise.all(looks));
    const parsed = spec.parse(r.stdout, o);
    const minCircuits = fig === 'dns' ? o.clients : spec.minCircuits;
    if (granted !== null && granted < minCircuits) {
      throw new Error(
        `${tag}: the operator granted ${granted} circuits during the client's run (at least ${minCircuits} expected): ` +
          'this measured nothing over circuits',
      );
    }
    if (circuits?.dropped && circuits.dropped.to_server + circuits.dropped.to_client > 0) {
      parsed.extra = { ...parsed.extra, note: `circuits dropped ${circuits.dropped.to_server}/${circuits.dropped.to_client} datagrams (to server/to client)` };
    }
    if (server.status !== null) parsed.problems.push(`the server exited (${server.status ?? server.signal}) during the run`);
    return {
      figure: fig,
      transport: t.name,
      port,
      ...parsed.figures,
      wall_s: r.wall,
      active_s: parsed.seconds, // the client's own measuring time
      accounted_s: window, // what the CPU figures cover: the client's timed part (sockperf) or its whole run (dnsperf)
      count: parsed.count, // round trips (sockperf's [Total Run]) or queries completed (dnsperf)
      cpu_s: { server: sv.cpu, client: cli.cpu, operator: op.cpu },
      sleeps: { server: sv.vcsw, client: cli.vcsw }, // voluntary context switches
      preempted: { server: sv.ivcsw, client: cli.ivcsw },
      client_whole_run: { user_s: whole.user, sys_s: whole.sys, vcsw: whole.vcsw }, // GNU time: set-up included
      circuits_granted: granted,
      circuits, // over circuits: the datagram circuits to the server's port, right after the client
      // CPUs busy with everything else on the machine meanwhile (other sessions, launchers, kernel threads)
      others_cpus: (busy - sv.cpu - cli.cpu - op.cpu - launcher) / window,
      launcher_cpu_s: launcher,
      idle_before_cpus: idleBefore,
      server_info: info,
      problems: parsed.problems,
      ...(parsed.extra ?? {}),
      ...(parsed.problems.length ? { stdout: r.stdout.slice(-4000), stderr: r.stderr.slice(-4000) } : {}),
    };
  } finally {
    await stop(server);
  }
}

// ---------------------------------------------------------------- report

/** CPU µs per round trip / per query, sleeps per round trip / query, CPUs busy. */
function costs(m) {
  const per = (x) => (x / m.count) * 1e6;
  return {
    cpu: { server: per(m.cpu_s.server), client: per(m.cpu_s.client), operator: per(m.cpu_s.operator) },
    sleeps: { server: m.sleeps.server / m.count, client: m.sleeps.client / m.count },
    busy: (m.cpu_s.server + m.cpu_s.client + m.cpu_s.operator) / m.active_s,
  };
}

function costText(fig, transport, c) {
  const u = fig === 'sockperf' ? ' µs/rt' : ' µs/query';
  return (
    `CPU server ${fmt(c.cpu.server, 2)}${u}, client ${fmt(c.cpu.client, 2)}${u}` +
    (transport === 'circuit' ? `, operator ${fmt(c.cpu.operator, 2)}${u}` : '') +
    `; sleeps server ${fmt(c.sleeps.server, 2)}, client ${fmt(c.sleeps.client, 2)}` +
    `; ${fmt(c.busy, 2)} CPUs busy`
  );
}

function describe(m) {
  if (m.error) return `FAILED: ${m.error}`;
  let what;
  if (m.figure === 'sockperf') {
    what =
      `rtt p50 ${fmt(m.rtt_p50_us, 3)} µs, avg ${fmt(m.rtt_avg_us, 3)}, p99 ${fmt(m.rtt_p99_us, 3)}, p99.9 ${fmt(m.rtt_p999_us, 3)} µs; ` +
      `${fmt(m.rtt_per_s)} round trips/s`;
  } else {
    what = `${fmt(m.qps)} queries/s, latency avg ${fmt(m.latency_avg_ms, 3)} ms (max ${fmt(m.latency_max_ms, 3)}); lost ${m.lost}`;
  }
  const c = m.circuits;
  return (
    `${what}; ${costText(m.figure, m.transport, costs(m))}` +
    (m.transport === 'circuit'
      ? `; ${m.circuits_granted} circuits granted` +
        (c ? `, ${c.count} datagram circuits to the port (${c.datagrams.to_server}/${c.datagrams.to_client} datagrams${c.dropped ? `, dropped ${c.dropped.to_server}/${c.dropped.to_client}` : ''})` : '')
      : '') +
    (m.others_cpus > 0.25 ? `; OTHER WORK on the machine: ${fmt(m.others_cpus, 2)} CPUs` : '') +
    (m.problems.length ? `; PROBLEMS: ${m.problems.join('; ')}` : '')
  );
}

// ---------------------------------------------------------------- main

export async function run(args, { root }) {
  let o;
  try {
    o = options(args);
  } catch (e) {
    console.error(`udp: ${e.message}`);
    return 2;
  }
  o.tools = preflight('udp', {
    root,
    baseline: 'UDP',
    needShim: o.transports.includes('circuit'),
    tools: ['sockperf', 'dnsperf', 'named', 'nsenter', 'unshare', 'ss', 'ip'],
    setupHint: ' (sockperf, dnsperf, bind9, time)',
  });
  if (!o.tools) return 1;
  const figs = Object.keys(FIGURES).filter((f) => o.only === null || o.only === f);

  o.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-udp-'));
  fs.chmodSync(o.dir, 0o755);
  fs.writeFileSync(path.join(o.dir, `${ZONE}.zone`), zoneFile(ZONE));
  const q = queryFile(ZONE);
  o.queryFile = path.join(o.dir, 'queries.txt');
  o.oneQuery = path.join(o.dir, 'one-query.txt');
  fs.writeFileSync(o.oneQuery, `www1.${ZONE} A\n`);
  o.expected = q.expected;
  fs.writeFileSync(o.queryFile, q.text);
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-udp-rt-'));

  const onSignal = (s) => {
    console.error(`udp: ${s}: stopping what was started`);
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results = [];
  let failed = false;
  let keep = false;
  try {
    let circuit = null;
    if (o.transports.includes('circuit')) circuit = circuitTransport(root, runtime, await startOperator(root, runtime));

    const before = probe(root);
    console.log(
      `udp: ${o.runs} run(s); sockperf ping-pong ${o.duration} s, ${o.msgSize} B messages (--mps ${o.mps}); ` +
        `dnsperf ${o.duration} s, ${o.clients} sockets, ${o.outstanding} outstanding, against named (${o.namedThreads || 'default'} worker threads); ` +
        `transports ${o.transports.join(', ')}`,
    );
    console.log(`udp: placement probe ${fmt(before)} ns; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (let i = 0; i < o.runs; i++) {
      for (const fig of figs) {
        // the transports alternate; which goes first rotates from run to run
        const order = i % 2 === 0 ? o.transports : [...o.transports].reverse();
        for (const name of order) {
          let m;
          for (let attempt = 0; ; attempt++) {
            const port = 21000 + 1000 * Object.keys(FIGURES).indexOf(fig) + 20 * i + 2 * attempt + (name === 'circuit' ? 1 : 0);
            let t = null;
            try {
              t = name === 'udp' ? await udpNamespace() : circuit;
              m = await measure(fig, t, port, o);
            } catch (e) {
              m = { figure: fig, transport: name, port, error: e.message, problems: [e.message] };
            } finally {
              await t?.close();
            }
            m.run = i + 1;
            m.attempt = attempt + 1;
            console.log(`udp: run ${i + 1} ${fig} ${name}: ${describe(m)}`);
            if (m.error || !(m.others_cpus > BUSY_OTHERS) || attempt >= o.retries) break;
            console.log(`udp:   (other work used ${fmt(m.others_cpus, 2)} CPUs meanwhile: measuring again)`);
          }
          results.push(m);
          if (m.problems.length) failed = true;
        }
      }
    }
    const after = probe(root);

    const ok = (fig, transport) => results.filter((m) => m.figure === fig && m.transport === transport && !m.error);
    const med = (fig, transport, f) => median(ok(fig, transport).map((m) => m[f]));
    const medCosts = (fig, transport) => {
      const cs = ok(fig, transport).map(costs);
      const f = (g) => median(cs.map(g));
      return {
        cpu: { server: f((c) => c.cpu.server), client: f((c) => c.cpu.client), operator: f((c) => c.cpu.operator) },
        sleeps: { server: f((c) => c.sleeps.server), client: f((c) => c.sleeps.client) },
        busy: f((c) => c.busy),
      };
    };
    // [label, figure, field, decimals, larger is better]
    const rows = [
      ['sockperf rtt p50 µs', 'sockperf', 'rtt_p50_us', 3, false],
      ['sockperf rtt avg µs', 'sockperf', 'rtt_avg_us', 3, false],
      ['sockperf rtt p99 µs', 'sockperf', 'rtt_p99_us', 3, false],
      ['sockperf rtt p99.9 µs', 'sockperf', 'rtt_p999_us', 3, false],
      ['sockperf rt/s', 'sockperf', 'rtt_per_s', 0, true],
      ['dns queries/s', 'dns', 'qps', 0, true],
      ['dns latency avg ms', 'dns', 'latency_avg_ms', 3, false],
    ].filter((r) => figs.includes(r[1]));
    console.log(`udp: placement probe before ${fmt(before)} ns, after ${fmt(after)} ns; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`udp: medians of ${o.runs} run(s) (gain: how many times better the circuit is)`);
    const pad = (s, n) => String(s).padStart(n);
    console.log(`  ${'figure'.padEnd(22)}${pad('udp', 12)}${pad('circuit', 12)}${pad('gain', 9)}`);
    const gain = {};
    for (const [label, fig, f, d, larger] of rows) {
      const a = med(fig, 'udp', f);
      const b = med(fig, 'circuit', f);
      gain[`${fig}.${f}`] = larger ? b / a : a / b;
      console.log(`  ${label.padEnd(22)}${pad(fmt(a, d), 12)}${pad(fmt(b, d), 12)}${pad(fmt(gain[`${fig}.${f}`], 2), 9)}`);
    }
    console.log('udp: costs, medians (CPU per round trip or per query; voluntary sleeps per round trip or query; CPUs busy while the client measured)');
    for (const fig of figs) {
      for (const tr of o.transports) if (ok(fig, tr).length) console.log(`  ${`${fig} ${tr}`.padEnd(17)} ${costText(fig, tr, medCosts(fig, tr))}`);
    }

    const out = path.join(root, 'build', 'bench');
    fs.mkdirSync(out, { recursive: true });
    const file = path.join(out, `udp-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const machine = { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, kernel: os.release(), date: new Date().toISOString() };
    const versions = {
      sockperf: spawnSync(o.tools.sockperf, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim(),
      named: spawnSync(o.tools.named, ['-v'], { encoding: 'utf8' }).stdout?.trim(),
      dnsperf: /Version\s+(\S+)/.exec(Object.values(spawnSync(o.tools.dnsperf, ['-h'], { encoding: 'utf8' })).join(' '))?.[1],
    };
    fs.writeFileSync(
      file,
      `${JSON.stringify({ machine, versions, options: { ...o, tools: o.tools }, probe_ns: { before, after }, gains: gain, results }, null, 1)}\n`,
    );
    console.log(`udp: every measurement in ${path.relative(process.cwd(), file)}`);
    const errors = results.filter((m) => m.error).length;
    if (errors) console.log(`udp: ${errors} of ${results.length} measurements FAILED (above); their transport's medians leave them out`);
    const disturbed = results.filter((m) => m.others_cpus > BUSY_OTHERS).length;
    if (disturbed) console.log(`udp: ${disturbed} of ${results.length} measurements ran while other work used > ${BUSY_OTHERS} CPUs (after retries); they are included`);
    if (failed && results.some((m) => !m.error && m.problems.length)) console.log('udp: SOME MEASUREMENTS REPORTED PROBLEMS (above); their figures are included');
    const x = (r) => (Number.isFinite(r) ? `${fmt(r, 2)}x` : 'n/a');
    const target = (r, t) => (Number.isFinite(r) ? (r >= t ? 'met' : 'MISSED') : 'not measured');
    if (figs.includes('sockperf')) {
      const r = gain['sockperf.rtt_p50_us'];
      console.log(`udp: target (issue 6): round trips >= 10x faster than UDP: ${x(r)} p50 (${x(gain['sockperf.rtt_avg_us'])} avg): ${target(r, 10)}`);
    }
    if (figs.includes('dns')) console.log(`udp: target (issue 6): DNS queries/s >= 1.5x UDP: ${x(gain['dns.qps'])}: ${target(gain['dns.qps'], 1.5)}`);
    if (figs.includes('sockperf')) console.log(`udp: sockperf rtt udp/circuit=${fmt(gain['sockperf.rtt_p50_us'], 2)}`);
    if (figs.includes('dns')) console.log(`udp: dns qps circuit/udp=${fmt(gain['dns.qps'], 2)}`);
    if (errors) keep = true;
    return failed ? 1 : 0;
  } catch (e) {
    console.error(`udp: ${e.message}`);
    keep = true;
    return 1;
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (keep) console.error(`udp: logs kept in ${o.dir} (servers) and ${runtime} (operator)`);
    else {
      fs.rmSync(o.dir, { recursive: true, force: true });
      fs.rmSync(runtime, { recursive: true, force: true });
    }
  }
}
