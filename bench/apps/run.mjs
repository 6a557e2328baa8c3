/**
 * npm run bench -- apps [--runs N] [--quick] [--duration S] [--requests N] [--wait-idle S] [--retries N]
 *
 * Real, unmodified programs over circuits and over kernel TCP on loopback,
 * in the same run, with the same client binaries:
 *
 *   nginx   wrk -t1 -c50 -d5s --latency (1 KiB page, keep-alive): requests/s, p50, p99
 *   redis   redis-benchmark -n 100000 -c 50 -P 1 -t get,set --csv: requests/s of GET and SET
 *   iperf3  iperf3 -c 127.0.0.1 -t 5 --json (one stream): goodput, Gbit/s
 *
 * Circuits: a private operator (`switchboard operator --runtime-dir <tmp>`);
 * the server and the client each run under `switchboard run --isolate`, i.e.
 * in their own network namespace without interfaces, so only circuits can
 * carry their traffic; the operator's `connects_granted` must move by at
 * least the client's connection count, or the benchmark fails (it would have
 * measured nothing).  TCP: server and client in one fresh network namespace
 * with loopback up (held by an `unshare --net` process; never the machine's
 * own namespace or its settings), without the shim.
 *
 * Per app and run the transports alternate (tcp, circuit) and every server
 * is fresh.  Other sessions share this machine: before each client starts,
 * the bench waits until the machine has been nearly idle for a second
 * (--wait-idle S caps the wait: default 60, --quick 15, 0 no wait) and
 * records how many CPUs other work used while the client ran; above 0.3 CPUs
 * the measurement is taken again (--retries N, default 2; the last counts).
 * Each measurement also records CPU time and voluntary context switches
 * ("sleeps"): the client's (GNU `time` around it, the same wrapper on both
 * transports), the server's (its process tree in /proc, before and after the
 * client) and, over circuits, the operator's CPU.
 * Medians over runs; ratios are ratios of medians.  Writes every measurement
 * to build/bench/apps-<timestamp>.json and ends with
 *
 *   apps: nginx rps circuit/tcp=R
 *   apps: redis get circuit/tcp=R
 *   apps: redis set circuit/tcp=R
 *   apps: iperf3 circuit/tcp=R
 *
 * Every process it starts runs in its own process group and is stopped by
 * that pid (SIGTERM, then SIGKILL), also on failure and on Ctrl-C.
 * Needs root (network namespaces), `npm run build`, and nginx, wrk,
 * redis-server, redis-benchmark, iperf3, /usr/bin/time (`node scripts/setup.mjs`).
 * bench/apps/README.md says more.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cleanEnv,
  diff,
  fmt,
  isolatedPrefix,
  machineBusy,
  median,
  netns,
  operatorStatus,
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

const USAGE = 'usage: npm run bench -- apps [--runs N] [--quick] [--duration S] [--requests N] [--wait-idle S] [--retries N]';
const CLIENTS = 50; // connections, every app
const BUSY_OTHERS = 0.3; // CPUs of other work during a measurement that make it count as disturbed

function options(args) {
  const o = { runs: 3, quick: false, duration: 5, requests: 100000, waitIdle: 60, retries: 2 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a}: a positive number`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Math.round(num());
    else if (a === '--duration') o.duration = num();
    else if (a === '--requests') o.requests = Math.round(num());
    else if (a === '--wait-idle') o.waitIdle = Number(args[++i]);
    else if (a === '--retries') o.retries = Number(args[++i]);
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (!(o.retries >= 0 && o.retries <= 9)) throw new Error('--retries: 0 to 9');
  if (o.runs > 40) throw new Error('--runs: at most 40');
  if (!(o.waitIdle >= 0)) throw new Error('--wait-idle: seconds, 0 to not wait');
  if (o.quick) {
    if (!args.includes('--runs')) o.runs = 1;
    if (!args.includes('--duration')) o.duration = 2;
    if (!args.includes('--requests')) o.requests = 20000;
    if (!args.includes('--wait-idle')) o.waitIdle = 15;
  }
  return o;
}

// ---------------------------------------------------------------- the two transports

/** Kernel TCP: a fresh network namespace with loopback up, held by `unshare --net ... sleep`. */
async function tcpNamespace(dir) {
  const { holder, prefix } = await netns();
  return {
    name: 'tcp',
    holder,
    env: cleanEnv(),
    prefix,
    dir,
    async waitListening(port, server) {
      for (let i = 0; i < 300; i++) {
        if (server.status !== null) throw new Error(`${server.what} exited (${server.status ?? server.signal}) before listening`);
        const r = spawnSync(prefix[0], [...prefix.slice(1), 'ss', '-Htln', `sport = :${port}`], { encoding: 'utf8' });
        if (r.status === 0 && r.stdout.trim()) return;
        await sleep(30);
      }
      throw new Error(`${server.what}: not listening on ${port} after 9 s`);
    },
    granted: () => null,
    operatorStats: () => ({ cpu: 0, vcsw: 0, ivcsw: 0 }),
    async close() {
      await stop(holder);
    },
  };
}

/** Circuits: the private operator's runtime directory; each program under `switchboard run --isolate`. */
function circuitTransport(root, runtime, operator) {
  const tenant = () => operatorStatus(root, runtime).tenants.find((t) => t.name === 'default');
  return {
    name: 'circuit',
    env: cleanEnv(),
    prefix: isolatedPrefix(root, runtime),
    async waitListening(port, server) {
      for (let i = 0; i < 100; i++) {
        if (server.status !== null) throw new Error(`${server.what} exited (${server.status ?? server.signal}) before listening`);
        if (operator.status !== null) throw new Error('the operator exited');
        if (tenant().listeners.some((l) => l.address.endsWith(`:${port}`))) return;
        await sleep(100);
      }
      throw new Error(`${server.what}: no listener on port ${port} at the operator after 10+ s`);
    },
    granted: () => BigInt(tenant().connects_granted),
    operatorStats: () => treeStats(operator.pid),
    async close() {},
  };
}

// ---------------------------------------------------------------- the apps

function wrkTime(v, unit) {
  return Number(v) * { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }[unit]; // → ms
}

const APPS = {
  nginx: {
    figures: ['rps', 'p50_ms', 'p99_ms'],
    minCircuits: CLIENTS,
    server(t, dir, port, o) {
      const conf = path.join(dir, `nginx-${t.name}-${port}.conf`);
      fs.writeFileSync(
        conf,
        `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx-${t.name}-${port}.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/html;
  }
}
`,
      );
      return [o.tools.nginx, '-p', dir, '-c', conf, '-e', `${dir}/nginx-error.log`];
    },
    client(t, port, o) {
      return [o.tools.wrk, '-t1', `-c${CLIENTS}`, `-d${o.duration}s`, '--timeout', '10s', '--latency', `http://127.0.0.1:${port}/index.html`];
    },
    parse(out) {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const lat = (pct) => {
        const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
        return m ? wrkTime(m[1], m[2]) : NaN;
      };
      const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB) read/.exec(out);
      const bytes = reqs ? Number(reqs[4]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[reqs[5]] : NaN;
      const requests = reqs ? Number(reqs[1]) : NaN;
      const problems = [];
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      if (sock && sock.slice(1).some((x) => Number(x) > 0)) problems.push(sock[0]);
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      if (non2xx) problems.push(non2xx[0]);
      // the page is 1 KiB: every response must have carried it (with its headers)
      if (bytes / requests < 1024) problems.push(`only ${(bytes / requests).toFixed(0)} bytes per response`);
      if (!Number.isFinite(rps)) problems.push('no Requests/sec in the output');
      const seconds = reqs ? wrkTime(reqs[2], reqs[3]) / 1e3 : NaN;
      return { figures: { rps, p50_ms: lat(50), p99_ms: lat(99) }, requests, seconds, problems };
    },
  },
  redis: {
    figures: ['get_rps', 'set_rps', 'get_p50_ms', 'set_p50_ms', 'get_p99_ms', 'set_p99_ms'],
    minCircuits: 2 * CLIENTS,
    server(t, dir, port, o) {
      return [o.tools['redis-server'], '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir, '--logfile', ''];
    },
    client(t, port, o) {
      return [o.tools['redis-benchmark'], '-h', '127.0.0.1', '-p', String(port), '-n', String(o.requests), '-c', String(CLIENTS), '-P', '1', '-t', 'get,set', '--csv'];
    },
    parse(out, o) {
      const rows = {};
      for (const line of out.split('\n')) {
        const cells = line.trim().split(',').map((c) => c.replace(/^"|"$/g, ''));
        if (cells[0] === 'GET' || cells[0] === 'SET') rows[cells[0]] = cells.map(Number);
      }
      // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      const problems = [];
      for (const k of ['GET', 'SET']) if (!rows[k]) problems.push(`no ${k} row in the CSV`);
      const f = (k, i) => rows[k]?.[i] ?? NaN;
      return {
        figures: { get_rps: f('GET', 1), set_rps: f('SET', 1), get_p50_ms: f('GET', 4), set_p50_ms: f('SET', 4), get_p99_ms: f('GET', 6), set_p99_ms: f('SET', 6) },
        requests: 2 * o.requests,
        seconds: o.requests / f('GET', 1) + o.requests / f('SET', 1),
        problems,
      };
    },
  },
  iperf3: {
    figures: ['gbps'],
    minCircuits: 2, // the control connection and one stream
    server(t, dir, port, o) {
      return [o.tools.iperf3, '-s', '-p', String(port)];
    },
    client(t, port, o) {
      return [o.tools.iperf3, '-c', '127.0.0.1', '-p', String(port), '-t', String(o.duration), '--json'];
    },
    parse(out) {
      const problems = [];
      let j;
      try {
        j = JSON.parse(out);
      } catch {
        return { figures: { gbps: NaN }, requests: NaN, problems: ['iperf3 printed no JSON'] };
      }
      if (j.error) problems.push(`iperf3: ${j.error}`);
      const recv = j.end?.sum_received ?? {};
      const cpu = j.end?.cpu_utilization_percent ?? {};
      return {
        figures: { gbps: recv.bits_per_second / 1e9 },
        requests: recv.bytes / 2 ** 30, // "requests" = GiB moved: CPU is reported per GiB
        seconds: recv.seconds,
        extra: { bytes: recv.bytes, retransmits: j.end?.sum_sent?.retransmits, iperf3_cpu_percent: cpu },
        problems,
      };
    },
  },
};

/** One measurement: a fresh server, one client run, CPU accounting, circuit check. */
async function measure(app, t, port, o) {
  const spec = APPS[app];
  const tag = `${app} ${t.name}`;
  const server = start([...t.prefix, ...spec.server(t, o.dir, port, o)], {
    env: t.env,
    logFile: path.join(o.dir, `${app}-${t.name}-server.log`),
    what: `${app} server (${t.name})`,
  });
  try {
    await t.waitListening(port, server);
    const skip = new Set(['node', 'nsenter', 'unshare']); // the launcher, not the server
    const idleBefore = o.waitIdle > 0 ? await waitIdle(o.waitIdle) : NaN;
    const granted0 = t.granted();
    const op0 = t.operatorStats();
    const srv0 = treeStats(server.pid, skip);
    const busy0 = machineBusy();
    const timesFile = path.join(o.dir, `times-${app}-${t.name}-${port}`);
    // the outer `time` also counts the launcher (switchboard run, or nsenter): not the client, not other work
    const r = await runClient(timed([...t.prefix, ...timed(spec.client(t, port, o), timesFile)], `${timesFile}.outer`), {
      env: t.env,
      timeoutMs: (o.duration + 60) * 1000 + o.requests,
      what: `${app} client (${t.name})`,
    });
    const busy = machineBusy() - busy0;
    const srv = diff(srv0, treeStats(server.pid, skip));
    const op = diff(op0, t.operatorStats());
    const cli = readTimes(timesFile);
    const launcher = readTimes(`${timesFile}.outer`).cpu - cli.cpu;
    const granted = granted0 === null ? null : Number(t.granted() - granted0);
    const parsed = spec.parse(r.stdout, o);
    if (granted !== null && granted < spec.minCircuits) {
      throw new Error(
        `${tag}: the operator granted ${granted} circuits during the client's run (at least ${spec.minCircuits} expected): ` +
          'this measured nothing over circuits',
      );
    }
    if (server.status !== null) parsed.problems.push(`the server exited (${server.status ?? server.signal}) during the run`);
    return {
      app,
      transport: t.name,
      port,
      ...parsed.figures,
      wall_s: r.wall,
      active_s: parsed.seconds, // the client's own measuring time
      requests: parsed.requests,
      cpu_s: { server: srv.cpu, client: cli.cpu, operator: op.cpu },
      sleeps: { server: srv.vcsw, client: cli.vcsw }, // voluntary context switches
      preempted: { server: srv.ivcsw, client: cli.ivcsw },
      client_user_sys_s: [cli.user, cli.sys],
      circuits_granted: granted,
      // CPUs busy with everything else on the machine while the client ran (other sessions, launchers, kernel threads)
      others_cpus: (busy - srv.cpu - cli.cpu - op.cpu - launcher) / r.wall,
      launcher_cpu_s: launcher,
      idle_before_cpus: idleBefore,
      problems: parsed.problems,
      ...(parsed.extra ?? {}),
      ...(parsed.problems.length ? { stdout: r.stdout.slice(-4000), stderr: r.stderr.slice(-4000) } : {}),
    };
  } finally {
    await stop(server);
  }
}

// ---------------------------------------------------------------- report

/** CPU per request (iperf3: per GiB), sleeps per request (iperf3: per second), CPUs busy. */
function costs(m) {
  const bulk = m.app === 'iperf3';
  const per = (x) => (x / m.requests) * (bulk ? 1 : 1e6);
  const sleeps = (x) => (bulk ? x / m.active_s : x / m.requests);
  return {
    cpu: { server: per(m.cpu_s.server), client: per(m.cpu_s.client), operator: per(m.cpu_s.operator) },
    sleeps: { server: sleeps(m.sleeps.server), client: sleeps(m.sleeps.client) },
    busy: (m.cpu_s.server + m.cpu_s.client + m.cpu_s.operator) / m.active_s,
  };
}

function costText(app, transport, c) {
  const bulk = app === 'iperf3';
  const d = bulk ? 3 : 1;
  const u = bulk ? ' s/GiB' : ' µs/req';
  return (
    `CPU server ${fmt(c.cpu.server, d)}${u}, client ${fmt(c.cpu.client, d)}${u}` +
    (transport === 'circuit' ? `, operator ${fmt(c.cpu.operator, d)}${u}` : '') +
    `; sleeps ${bulk ? 'per s' : 'per req'} server ${fmt(c.sleeps.server, bulk ? 0 : 2)}, client ${fmt(c.sleeps.client, bulk ? 0 : 2)}` +
    `; ${fmt(c.busy, 2)} CPUs busy`
  );
}

function describe(m) {
  let what;
  if (m.app === 'nginx') what = `${fmt(m.rps)} req/s, p50 ${fmt(m.p50_ms, 3)} ms, p99 ${fmt(m.p99_ms, 3)} ms`;
  if (m.app === 'redis') what = `GET ${fmt(m.get_rps)} req/s, SET ${fmt(m.set_rps)} req/s (p99 ${fmt(m.get_p99_ms, 3)} / ${fmt(m.set_p99_ms, 3)} ms)`;
  if (m.app === 'iperf3') what = `${fmt(m.gbps, 2)} Gbit/s`;
  return (
    `${what}; ${costText(m.app, m.transport, costs(m))}` +
    (m.transport === 'circuit' ? `; ${m.circuits_granted} circuits granted` : '') +
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
    console.error(`apps: ${e.message}`);
    return 2;
  }
  o.tools = preflight('apps', {
    root,
    baseline: 'TCP',
    tools: ['nginx', 'wrk', 'redis-server', 'redis-benchmark', 'iperf3', 'nsenter', 'unshare', 'ss', 'ip'],
  });
  if (!o.tools) return 1;

  // nginx's workers run as nobody: the directory with the page must be readable by all
  o.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-apps-'));
  fs.chmodSync(o.dir, 0o755);
  fs.mkdirSync(path.join(o.dir, 'html'));
  fs.mkdirSync(path.join(o.dir, 'tmp'));
  const page = Buffer.alloc(1024, 'switchboard circuits carry this page. ');
  fs.writeFileSync(path.join(o.dir, 'html', 'index.html'), page);
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-apps-rt-'));

  const onSignal = (s) => {
    console.error(`apps: ${s}: stopping what was started`);
    stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results = [];
  let failed = false;
  try {
    const operator = await startOperator(root, runtime);
    const circuit = circuitTransport(root, runtime, operator);

    const before = probe(root);
    console.log(
      `apps: ${o.runs} run(s); wrk ${o.duration} s, redis-benchmark ${o.requests} requests per test, iperf3 ${o.duration} s; ${CLIENTS} connections (iperf3: 1 stream)`,
    );
    console.log(`apps: placement probe ${fmt(before)} ns; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    for (let i = 0; i < o.runs; i++) {
      for (const [k, app] of Object.keys(APPS).entries()) {
        for (const name of ['tcp', 'circuit']) {
          // other sessions share the machine: a measurement during which other work used
          // more than BUSY_OTHERS CPUs is taken again (up to o.retries times; the last one counts)
          let m;
          for (let attempt = 0; ; attempt++) {
            const t = name === 'tcp' ? await tcpNamespace(o.dir) : circuit;
            try {
              const port = 20000 + 1000 * k + 20 * i + 2 * attempt + (name === 'circuit' ? 1 : 0);
              m = await measure(app, t, port, o);
            } finally {
              await t.close();
            }
            m.run = i + 1;
            m.attempt = attempt + 1;
            console.log(`apps: run ${i + 1} ${app} ${name}: ${describe(m)}`);
            if (!(m.others_cpus > BUSY_OTHERS) || attempt >= o.retries) break;
            console.log(`apps:   (other work used ${fmt(m.others_cpus, 2)} CPUs meanwhile: measuring again)`);
          }
          results.push(m);
          if (m.problems.length) failed = true;
        }
      }
    }
    const after = probe(root);

    // medians per app, transport and figure
    const med = (app, transport, f) => median(results.filter((m) => m.app === app && m.transport === transport).map((m) => m[f]));
    const medCosts = (app, transport) => {
      const cs = results.filter((m) => m.app === app && m.transport === transport).map(costs);
      const f = (g) => median(cs.map(g));
      return {
        cpu: { server: f((c) => c.cpu.server), client: f((c) => c.cpu.client), operator: f((c) => c.cpu.operator) },
        sleeps: { server: f((c) => c.sleeps.server), client: f((c) => c.sleeps.client) },
        busy: f((c) => c.busy),
      };
    };
    const rows = [
      ['nginx req/s', 'nginx', 'rps', 0, true],
      ['nginx p50 ms', 'nginx', 'p50_ms', 3, false],
      ['nginx p99 ms', 'nginx', 'p99_ms', 3, false],
      ['redis GET req/s', 'redis', 'get_rps', 0, true],
      ['redis SET req/s', 'redis', 'set_rps', 0, true],
      ['redis GET p99 ms', 'redis', 'get_p99_ms', 3, false],
      ['redis SET p99 ms', 'redis', 'set_p99_ms', 3, false],
      ['iperf3 Gbit/s', 'iperf3', 'gbps', 2, true],
    ];
    console.log(`apps: placement probe before ${fmt(before)} ns, after ${fmt(after)} ns; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`apps: medians of ${o.runs} run(s)`);
    const pad = (s, n) => String(s).padStart(n);
    console.log(`  ${'figure'.padEnd(18)}${pad('tcp', 12)}${pad('circuit', 12)}${pad('circuit/tcp', 13)}`);
    const ratio = {};
    for (const [label, app, f, d] of rows) {
      const a = med(app, 'tcp', f);
      const b = med(app, 'circuit', f);
      ratio[`${app}.${f}`] = b / a;
      console.log(`  ${label.padEnd(18)}${pad(fmt(a, d), 12)}${pad(fmt(b, d), 12)}${pad(fmt(b / a, 2), 13)}`);
    }
    console.log('apps: costs, medians (CPU per request, iperf3 per GiB; voluntary sleeps; CPUs busy while the client measured)');
    for (const app of Object.keys(APPS)) {
      for (const tr of ['tcp', 'circuit']) console.log(`  ${`${app} ${tr}`.padEnd(16)} ${costText(app, tr, medCosts(app, tr))}`);
    }

    const out = path.join(root, 'build', 'bench');
    fs.mkdirSync(out, { recursive: true });
    const file = path.join(out, `apps-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const machine = { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, kernel: os.release(), date: new Date().toISOString() };
    fs.writeFileSync(file, `${JSON.stringify({ machine, options: { ...o, tools: o.tools }, probe_ns: { before, after }, results }, null, 1)}\n`);
    console.log(`apps: every measurement in ${path.relative(process.cwd(), file)}`);
    const disturbed = results.filter((m) => m.others_cpus > BUSY_OTHERS).length;
    if (disturbed) console.log(`apps: ${disturbed} of ${results.length} measurements ran while other work used > ${BUSY_OTHERS} CPUs (after retries); they are included`);
    if (failed) console.log('apps: SOME MEASUREMENTS REPORTED PROBLEMS (above); their figures are included');
    console.log(`apps: nginx rps circuit/tcp=${fmt(ratio['nginx.rps'], 2)}`);
    console.log(`apps: redis get circuit/tcp=${fmt(ratio['redis.get_rps'], 2)}`);
    console.log(`apps: redis set circuit/tcp=${fmt(ratio['redis.set_rps'], 2)}`);
    console.log(`apps: iperf3 circuit/tcp=${fmt(ratio['iperf3.gbps'], 2)}`);
    return failed ? 1 : 0;
  } catch (e) {
    console.error(`apps: ${e.message}`);
    console.error(`apps: logs kept in ${o.dir} (servers) and ${runtime} (operator)`);
    failed = 'kept';
    return 1;
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (failed !== 'kept') {
      fs.rmSync(o.dir, { recursive: true, force: true });
      fs.rmSync(runtime, { recursive: true, force: true });
    }
  }
}
