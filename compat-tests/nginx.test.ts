/**
 * nginx (a master and two workers, sendfile on) serving a 1 MiB random file
 * and a tree of 50 small files, and four clients — curl, wget (recursive,
 * without and with keep-alive), wrk (keep-alive and `Connection: close`) —
 * each in its own network namespace with no interface up, so every byte goes
 * over circuits granted by a real operator.  What the clients fetch must have
 * the originals' sha256, nginx's access log must have every request, and the
 * operator must have granted at least one circuit per connection the clients
 * made (nginx's `$connection` serial numbers count them from the other side).
 *
 * Serial: the tests compare the operator's counters before and after.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';
import { checkIsolated, describeBare, netnsOf, runBare, sha256, somePort } from './netns.ts';

interface Context {
  op: Operator;
  nginx: Background;
  port: number;
  dir: string;
  docroot: string;
  masterPid: number;
  cleanup: () => void;
}
const test = anyTest as TestFn<Context>;

const NGINX = tool('nginx');
const CURL = tool('curl');
const WGET = tool('wget');
const WRK = tool('wrk');

/** path under the docroot → content: a 1 MiB random file and 50 small ones in nested directories. */
const FILES: Record<string, Buffer> = { 'big.bin': crypto.randomBytes(1 << 20) };
for (let a = 0; a < 5; a++) {
  for (let b = 0; b < 2; b++) {
    for (let c = 0; c < 5; c++) {
      const n = a * 10 + b * 5 + c;
      // sizes 0, 1, … around a page, up to ~20 KiB
      const size = n === 0 ? 0 : n === 1 ? 1 : n === 2 ? 4096 : crypto.randomInt(1, 20_000);
      FILES[`tree/d${a}/e${b}/f${c}.bin`] = crypto.randomBytes(size);
    }
  }
}
const NAMES = Object.keys(FILES);
const SMALL = 'tree/d1/e0/f2.bin';

const url = (port: number, name: string) => `http://127.0.0.1:${port}/${name}`;

function config(dir: string, docroot: string, port: number): string {
  const tmp = (n: string) => path.join(dir, 'tmp', n);
  return `
master_process on;
user nobody nogroup;
worker_processes 2;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr notice;
events { worker_connections 1024; }
http {
  default_type application/octet-stream;
  types { text/html html; }
  log_format sb '$remote_addr "$request" $status $body_bytes_sent conn=$connection req=$connection_requests';
  access_log ${path.join(dir, 'access.log')} sb;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    root ${docroot};
    autoindex on;
  }
}
`;
}

/** One line of the access log. */
interface Access {
  request: string;
  status: number;
  bytes: number;
  connection: number;
}

function accessLog(dir: string): Access[] {
  const file = path.join(dir, 'access.log');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^\S+ "([^"]*)" (\d+) (\d+) conn=(\d+) req=(\d+)$/.exec(l);
      if (!m) throw new Error(`unexpected access log line: ${l}`);
      return { request: m[1]!, status: Number(m[2]), bytes: Number(m[3]), connection: Number(m[4]) };
    });
}

/** What nginx logged from `from` on: the requests and the distinct connections they came on. */
function logSince(dir: string, from: number): { lines: Access[]; connections: number } {
  const lines = accessLog(dir).slice(from);
  return { lines, connections: new Set(lines.map((l) => l.connection)).size };
}

/** Every file saved under `dir` at its path, with the original's sha256. */
function checkTree(t: ExecutionContext<Context>, client: string, dir: string) {
  for (const name of NAMES) {
    const file = path.join(dir, name);
    t.true(fs.existsSync(file), `${client} did not save ${name}`);
    if (fs.existsSync(file)) t.is(sha256(fs.readFileSync(file)), sha256(FILES[name]!), `${client}: ${name}`);
  }
}

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-nginx-');
  fs.chmodSync(dir, 0o755); // the workers run as nobody
  const docroot = path.join(dir, 'www');
  for (const [name, body] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(docroot, name)), { recursive: true });
    fs.writeFileSync(path.join(docroot, name), body);
  }
  fs.mkdirSync(path.join(dir, 'tmp'));
  const port = somePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config(dir, docroot, port));
  const op = await startOperator();
  const nginx = startIsolated(op, NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr']);
  t.context = { op, nginx, port, dir, docroot, masterPid: 0, cleanup: remove };
  // The master listens before it starts the workers.
  await nginx.waitForLine(/start worker process/);
  const pidFile = path.join(dir, 'nginx.pid');
  for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  t.context.masterPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
});

test.after.always(async (t) => {
  await t.context.nginx?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

function outDir(t: { context: Context }, name: string): string {
  const dir = path.join(t.context.dir, 'out', name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

test.serial('curl fetches every file over circuits (keep-alive), byte for byte', async (t) => {
  const { op, port, dir } = t.context;
  const before = await op.tenant();
  const logFrom = accessLog(dir).length;
  const out = outDir(t, 'curl');
  const r = await runIsolated(op, CURL, [
    '-sS', '--fail', '--create-dirs', '-w', '%{http_code} %{size_download} %{num_connects}\\n',
    ...NAMES.flatMap((n) => ['-o', path.join(out, n), url(port, n)]),
  ]);
  t.is(r.status, 0, describeResult(r));
  const lines = r.stdout.trim().split('\n');
  t.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), NAMES.map((n) => `200 ${FILES[n]!.length}`));
  checkTree(t, 'curl', out);
  const connects = lines.reduce((s, l) => s + Number(l.split(' ')[2]), 0);
  const log = logSince(dir, logFrom);
  t.is(log.lines.length, NAMES.length, 'nginx logged every request');
  t.true(log.lines.every((l) => l.status === 200));
  const after = await op.tenant();
  t.log(`curl: ${connects} connection(s) for ${NAMES.length} requests (nginx saw ${log.connections}); connects_granted ${before.connects_granted} → ${after.connects_granted}`);
  t.true(connects >= 1);
  t.true(after.connects_granted - before.connects_granted >= Math.max(connects, log.connections));
});

test.serial('wget -r without keep-alive mirrors the tree, a connection per request', async (t) => {
  const { op, port, dir } = t.context;
  const before = await op.tenant();
  const logFrom = accessLog(dir).length;
  const out = outDir(t, 'wget-recursive');
  // --no-http-keep-alive: see python-http.test.ts (wget reuses a connection the server may have closed).
  const r = await runIsolated(op, WGET, [
    '-nv', '--tries=1', '--timeout=10', '--no-http-keep-alive', '-r', '-l', 'inf', '-np', '-nH', '-e', 'robots=off', '-P', out, url(port, ''),
  ]);
  t.is(r.status, 0, describeResult(r));
  checkTree(t, 'wget -r', out);
  const log = logSince(dir, logFrom);
  // The files and an autoindex page per directory (/, tree/, 5 d*/, 10 e*/).
  t.is(log.lines.length, NAMES.length + 17, log.lines.map((l) => l.request).join('\n'));
  t.true(log.lines.every((l) => l.status === 200));
  t.is(log.connections, log.lines.length, 'one connection per request');
  const after = await op.tenant();
  t.log(`wget -r: ${log.lines.length} requests on ${log.connections} connections; connects_granted ${before.connects_granted} → ${after.connects_granted}`);
  t.true(after.connects_granted - before.connects_granted >= log.connections);
});

test.serial('wget with keep-alive fetches a URL list over one connection', async (t) => {
  const { op, port, dir } = t.context;
  const before = await op.tenant();
  const logFrom = accessLog(dir).length;
  const out = outDir(t, 'wget-keepalive');
  const list = path.join(dir, 'urls.txt');
  fs.writeFileSync(list, NAMES.map((n) => url(port, n)).join('\n') + '\n');
  const r = await runIsolated(op, WGET, ['-nv', '--tries=1', '--timeout=10', '-x', '-nH', '-P', out, '-i', list]);
  t.is(r.status, 0, describeResult(r));
  checkTree(t, 'wget keep-alive', out);
  const log = logSince(dir, logFrom);
  t.is(log.lines.length, NAMES.length);
  t.true(log.lines.every((l) => l.status === 200));
  t.is(log.connections, 1, 'nginx keeps the connection; wget reuses it');
  const after = await op.tenant();
  t.true(after.connects_granted - before.connects_granted >= 1);
});

/** wrk's summary: requests, and the error lines it prints only when there are errors. */
function wrkSummary(stdout: string): { requests: number; socketErrors: string | undefined; non2xx: string | undefined } {
  const m = /(\d+) requests in [\d.]+\w+, /.exec(stdout);
  return {
    requests: m ? Number(m[1]) : 0,
    socketErrors: /Socket errors:.*/.exec(stdout)?.[0],
    non2xx: /Non-2xx or 3xx responses:.*/.exec(stdout)?.[0],
  };
}

/**
 * wrk (20 connections, 2 s) against the small file, isolated, with `extra`
 * arguments: no socket errors, only 200s, and every response wrk counted
 * logged complete by nginx (wrk stops with responses in flight: nginx logs
 * those with fewer bytes sent, one per connection at most).
 */
async function wrkRun(t: ExecutionContext<Context>, extra: readonly string[]) {
  const { op, port, dir } = t.context;
  const before = await op.tenant();
  const logFrom = accessLog(dir).length;
  const r = await runIsolated(op, WRK, ['-t', '2', '-c', '20', '-d', '2s', ...extra, url(port, SMALL)], { timeoutMs: 20_000 });
  t.is(r.status, 0, describeResult(r));
  const s = wrkSummary(r.stdout);
  t.log(r.stdout.trim());
  t.is(s.socketErrors, undefined, describeResult(r));
  t.is(s.non2xx, undefined, describeResult(r));
  t.true(s.requests > 0, describeResult(r));
  const log = logSince(dir, logFrom);
  const full = log.lines.filter((l) => l.bytes === FILES[SMALL]!.length).length;
  t.true(log.lines.every((l) => l.status === 200));
  t.true(full >= s.requests, `nginx logged ${full} complete responses, wrk counted ${s.requests}`);
  t.true(log.lines.length - full <= 20, `${log.lines.length - full} incomplete responses: ${log.lines.filter((l) => l.bytes !== FILES[SMALL]!.length).map((l) => l.bytes).join(" ")}`);
  return { requests: s.requests, log, before, after: await op.tenant() };
}

test.serial('wrk with keep-alive: 20 connections for 2 s, no errors', async (t) => {
  const { log, before, after } = await wrkRun(t, []);
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted}; nginx saw ${log.connections} connections`);
  t.true(after.connects_granted - before.connects_granted >= 20);
  t.true(log.connections >= 20 && log.connections <= 40, `${log.connections} connections: wrk keeps its 20`);
});

test.serial('wrk with Connection: close: a connection per request, no errors', async (t) => {
  const { requests, log, before, after } = await wrkRun(t, ['-H', 'Connection: close']);
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted} for ${requests} requests`);
  t.true(after.connects_granted - before.connects_granted >= Math.max(20, requests));
  t.is(log.connections, log.lines.length, 'one connection per request');
});

test.serial('nginx is isolated: its namespace has only lo, down; curl without the shim, isolated, cannot reach it', async (t) => {
  const { op, port, masterPid } = t.context;
  const ns = checkIsolated(t, masterPid);
  // Its two workers share that namespace.
  const workers = fs
    .readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  t.is(workers.length, 2, `the master's children: ${workers.join(' ')}`);
  for (const w of workers) t.is(netnsOf(w).id, ns.id);

  const before = await op.tenant();
  const r = await runBare(CURL, ['-sS', '--max-time', '5', url(port, SMALL)]);
  t.false(r.timedOut);
  t.is(r.status, 7, describeBare(r)); // CURLE_COULDNT_CONNECT
  t.regex(r.stderr, /Couldn't connect to server|Network is unreachable/, describeBare(r));
  const after = await op.tenant();
  t.is(after.connects_granted, before.connects_granted, 'no circuit was granted to it');
});

test.serial('nginx logged no errors', (t) => {
  const stderr = t.context.nginx.output().stderr;
  t.notRegex(stderr, /\[(error|crit|alert|emerg)\]/, stderr);
});
