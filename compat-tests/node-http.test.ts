/**
 * A Node.js `http` server and a Node.js `http` client (libuv: epoll,
 * non-blocking accept4/connect, readv/writev), each in its own network
 * namespace with no interface up, so every byte goes over circuits granted
 * by a real operator: 200 requests through a keep-alive agent, 50 on a
 * connection each, and a 4 MiB POST that the server echoes back.  Bodies
 * are checked byte for byte (sha256), the server counts the connections it
 * accepted, and the operator must have granted at least one circuit for each.
 *
 * Serial: the tests compare the operator's counters before and after.
 */
import anyTest, { type TestFn } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir } from './harness.ts';
import { checkIsolated, describeBare, runBare } from './netns.ts';

const NODE = process.execPath;

/**
 * Listens on 127.0.0.1, port 0.  GET /n/<i>: a line naming the request and
 * the connection (numbered as accepted); POST /echo: the body back, with its
 * length and sha256 as the server received it in headers.  Prints a JSON line
 * when listening and one per accepted connection.
 */
const SERVER = String.raw`
import crypto from 'node:crypto';
import http from 'node:http';

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let connections = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/echo') {
    const chunks = [];
    const hash = crypto.createHash('sha256');
    req.on('data', (c) => { chunks.push(c); hash.update(c); });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length,
        'x-received-length': body.length, 'x-received-sha256': hash.digest('hex') });
      res.end(body);
    });
    return;
  }
  if (req.method === 'GET' && req.url.startsWith('/n/')) {
    res.setHeader('content-type', 'text/plain');
    res.end('request ' + req.url.slice(3) + ' on connection ' + req.socket.sbConnection + '\n');
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 30_000;
server.on('connection', (socket) => {
  socket.sbConnection = ++connections;
  say({ connection: connections, remote: socket.remoteAddress, local: socket.localAddress + ':' + socket.localPort });
});
server.listen(0, '127.0.0.1', () => say({ listening: server.address().port, address: server.address().address, pid: process.pid }));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * argv: port, mode.  "all": the 200 + 50 GETs and the POST, then one JSON
 * summary line.  "probe": one GET; prints the error code or the status.
 */
const CLIENT = String.raw`
import crypto from 'node:crypto';
import http from 'node:http';

const port = Number(process.argv[2]);
const mode = process.argv[3];
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

function request(options, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, timeout: 10_000, ...options }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), socket: req.socket }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

if (mode === 'probe') {
  try {
    const r = await request({ path: '/n/0', agent: false });
    console.log(JSON.stringify({ status: r.status }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.code ?? e.message }));
    process.exitCode = 3;
  }
} else {
  const summary = { keepAlive: {}, close: {}, post: {} };
  const bad = [];
  const check = (r, i) => {
    const m = /^request (\d+) on connection (\d+)\n$/.exec(r.body.toString());
    if (r.status !== 200 || !m || Number(m[1]) !== i) bad.push({ i, status: r.status, body: r.body.toString().slice(0, 200) });
    return m ? Number(m[2]) : -1;
  };

  // 200 requests, 8 at a time, through a keep-alive agent of at most 4 sockets.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const sockets = new Set();
  const serverConnections = new Set();
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < 200) {
      const i = next++;
      const r = await request({ path: '/n/' + i, agent });
      sockets.add(r.socket);
      serverConnections.add(check(r, i));
    }
  }));
  agent.destroy();
  summary.keepAlive = { requests: 200, sockets: sockets.size, serverConnections: serverConnections.size };

  // 50 more, one connection each (no agent: "Connection: close"), 5 at a time.
  const closeSockets = new Set();
  const closeConnections = new Set();
  next = 200;
  await Promise.all(Array.from({ length: 5 }, async () => {
    while (next < 250) {
      const i = next++;
      const r = await request({ path: '/n/' + i, agent: false });
      closeSockets.add(r.socket);
      closeConnections.add(check(r, i));
      if (r.headers.connection !== 'close') bad.push({ i, connection: r.headers.connection });
    }
  }));
  summary.close = { requests: 50, sockets: closeSockets.size, serverConnections: closeConnections.size };

  // 4 MiB up and back.
  const body = crypto.randomBytes(4 << 20);
  const r = await request({ method: 'POST', path: '/echo', agent: false, headers: { 'content-type': 'application/octet-stream' } }, body);
  summary.post = {
    status: r.status,
    sent: { length: body.length, sha256: sha256(body) },
    serverReceived: { length: Number(r.headers['x-received-length']), sha256: r.headers['x-received-sha256'] },
    echoed: { length: r.body.length, sha256: sha256(r.body) },
  };
  summary.bad = bad;
  console.log(JSON.stringify(summary));
}
`;

interface Context {
  op: Operator;
  server: Background;
  port: number;
  serverPid: number;
  dir: string;
  cleanup: () => void;
}
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-node-');
  fs.writeFileSync(path.join(dir, 'server.mjs'), SERVER);
  fs.writeFileSync(path.join(dir, 'client.mjs'), CLIENT);
  const op = await startOperator();
  const server = startIsolated(op, NODE, [path.join(dir, 'server.mjs')]);
  t.context = { op, server, dir, port: 0, serverPid: 0, cleanup: remove };
  const line = JSON.parse(await server.waitForLine(/"listening"/)) as { listening: number; address: string; pid: number };
  t.context.port = line.listening;
  t.context.serverPid = line.pid;
});

test.after.always(async (t) => {
  await t.context.server?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

interface Summary {
  keepAlive: { requests: number; sockets: number; serverConnections: number };
  close: { requests: number; sockets: number; serverConnections: number };
  post: {
    status: number;
    sent: { length: number; sha256: string };
    serverReceived: { length: number; sha256: string };
    echoed: { length: number; sha256: string };
  };
  bad: unknown[];
}

/** The connections the server has announced so far. */
const accepted = (server: Background) => server.output().stdout.split('\n').filter((l) => l.startsWith('{"connection"')).length;

test.serial('200 keep-alive requests, 50 with a connection each and a 4 MiB echo, over circuits', async (t) => {
  const { op, server, port, dir } = t.context;
  const before = await op.tenant();
  const acceptedBefore = accepted(server);
  const r = await runIsolated(op, NODE, [path.join(dir, 'client.mjs'), String(port), 'all']);
  t.is(r.status, 0, describeResult(r));
  const s = JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null') as Summary;
  t.log(JSON.stringify({ keepAlive: s.keepAlive, close: s.close }));
  t.deepEqual(s.bad, []);

  t.true(s.keepAlive.sockets >= 1 && s.keepAlive.sockets <= 4, `keep-alive sockets: ${s.keepAlive.sockets}`);
  t.is(s.keepAlive.serverConnections, s.keepAlive.sockets, 'the server saw the agent\'s sockets');
  t.is(s.close.sockets, 50);
  t.is(s.close.serverConnections, 50);

  t.is(s.post.status, 200);
  t.deepEqual(s.post.serverReceived, s.post.sent, 'the server received the 4 MiB body intact');
  t.deepEqual(s.post.echoed, s.post.sent, 'and sent it back intact');
  t.is(s.post.sent.length, 4 << 20);

  const connections = s.keepAlive.sockets + s.close.sockets + 1;
  await new Promise((res) => setTimeout(res, 100)); // the server's last lines
  t.is(accepted(server) - acceptedBefore, connections, server.output().stdout);
  const after = await op.tenant();
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted} for ${connections} connections`);
  t.true(after.connects_granted - before.connects_granted >= connections);
  t.true(after.circuits_total - before.circuits_total >= connections);
});

test.serial('the server is isolated: only lo, down; the client without the shim, isolated, cannot reach it', async (t) => {
  const { op, port, dir, serverPid } = t.context;
  checkIsolated(t, serverPid);

  const before = await op.tenant();
  const probe = await runIsolated(op, NODE, [path.join(dir, 'client.mjs'), String(port), 'probe']);
  t.is(probe.status, 0, describeResult(probe));
  t.deepEqual(JSON.parse(probe.stdout), { status: 200 }, 'with the shim it can');
  const bare = await runBare(NODE, [path.join(dir, 'client.mjs'), String(port), 'probe']);
  t.false(bare.timedOut);
  t.is(bare.status, 3, describeBare(bare));
  t.deepEqual(JSON.parse(bare.stdout), { error: 'ENETUNREACH' }, describeBare(bare));
  const after = await op.tenant();
  t.is(after.connects_granted, before.connects_granted + 1, 'one circuit: the probe with the shim');
});
