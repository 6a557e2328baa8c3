/**
 * The native connect fast path (operator/native/src/fastpath.cc) through a
 * real operator: the first connect to a destination is decided by
 * JavaScript, which hands the decision down; the next ones are answered
 * natively.  `fast_path_answered` in `switchboard status` says which path
 * answered, and every answer must be the one JavaScript would have given.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { decode, encode, type Msg } from '../../build/gen/ts/protocol.ts';
import { E } from '../src/errno.ts';
import { native } from '../src/native.ts';
import { accept, closeAll, errnum, inet, inet6, TestClient } from './helpers/client.ts';
import { eventually, OperatorProcess, sleep } from './helpers/operator-process.ts';

const test = anyTest as TestFn<{ op: OperatorProcess }>;
const HELPERS = path.join(import.meta.dirname, 'helpers');

const POLICY = `version: 1
tenants:
  - name: web
    addresses: [10.8.0.2]
  - name: db
    addresses: [10.8.0.3]
listen:
  - tenant: "*"
    ports: any
connect:
  - name: web-to-db
    from: web
    to: { tenant: db, ports: "5432-5439" }
    action: allow
  - name: own
    from: "*"
    to: { tenant: self }
    action: allow
`;

test.before(async (t) => {
  t.context.op = await OperatorProcess.start({ policy: POLICY, tenants: ['web', 'db'] });
});
test.after.always(async (t) => {
  await t.context.op?.dispose();
});

/** Connects the fast path has answered so far (status drains its reports first). */
async function answered(op: OperatorProcess): Promise<number> {
  return (await op.status()).fast_path_answered as number;
}

function connectMsg(requestId: number, destination: ReturnType<typeof inet>, nonblocking = false): Msg {
  return { type: 'connect', requestId, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination, options: nonblocking ? ['nonblocking'] : [] };
}

/** Every message the operator sends on `fd` until EOF or `count` of them (decoded, fds closed). */
function readAll(fd: number, count = Infinity): Msg[] {
  const out: Msg[] = [];
  while (out.length < count) {
    if (!native.waitReadable(fd, 5000)) throw new Error('no answer');
    const r = native.recvMessage(fd, 512, 2);
    if (r.kind !== 'message') break;
    closeAll(r.fds);
    out.push(decode(r.bytes, 'operator-to-shim') as Msg);
  }
  return out;
}

test.serial('the second connect to a destination is answered natively, with the grant JavaScript gives', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5432));
  const before = await answered(op);
  const g1 = web.connect(inet('10.8.0.3', 5432)); // JavaScript decides and hands the decision down
  const g2 = web.connect(inet('10.8.0.3', 5432)); // the fast path
  t.is(await answered(op), before + 1, 'the second one came from the fast path');
  if (g1.msg.type !== 'connect_granted' || g2.msg.type !== 'connect_granted') return t.fail(JSON.stringify([g1.msg, g2.msg]));
  for (const g of [g1, g2]) {
    t.like(g.msg, { peer: { family: 'inet', address: '10.8.0.3', port: 5432 }, local: { family: 'inet', address: '10.8.0.2' }, inProgress: false });
    t.is(g.fds.length, 2);
  }
  const [p1, p2] = [g1.msg.local, g2.msg.local].map((a) => (a.family === 'inet' ? a.port : 0)) as [number, number];
  t.true(p2 >= 32768 && p2 <= 60999 && p1 !== p2, 'an ephemeral port of its own');
  t.deepEqual(g2.msg.geometry, g1.msg.geometry);
  t.not(g2.msg.circuit, g1.msg.circuit);

  const a1 = accept(l.port);
  const a2 = accept(l.port);
  if (a1.msg.type !== 'incoming' || a2.msg.type !== 'incoming') return t.fail();
  t.is(a2.msg.circuit, g2.msg.circuit, 'the listener gets them in order');
  t.deepEqual(a2.msg.local, inet('10.8.0.3', 5432));
  t.deepEqual(a2.msg.peer, g2.msg.local);
  t.deepEqual(a1.msg.peer, g1.msg.local);
  t.is(native.fdIdentity(g2.fds[0]!).ino, native.fdIdentity(a2.fds[0]!).ino, 'one memfd');
  t.is(native.writeBytes(g2.fds[1]!, Buffer.from('!')), 1);
  t.deepEqual(native.readBytes(a2.fds[1]!, 1), Buffer.from('!'), 'the two ends of one socket pair');

  // What JavaScript knows of it: `switchboard circuits`, claim, the tenant's counters.
  const listed = await op.admin({ cmd: 'circuits' });
  const rows = (listed as unknown as { circuits: Record<string, any>[] }).circuits;
  const row = rows.find((c) => c.id === String(g2.msg.type === 'connect_granted' && g2.msg.circuit));
  t.like(row, {
    type: 'stream',
    connector: { tenant: 'web', pid: process.pid, uid: process.getuid!(), address: `10.8.0.2:${p2}` },
    acceptor: { tenant: 'db', pid: process.pid, address: '10.8.0.3:5432', reservation: String(l.reservation) },
  });
  const claim = web.request({ type: 'claim' }, [a2.fds[1]!]);
  t.like(claim.msg, { type: 'claim_circuit', circuit: g2.msg.circuit, role: 'acceptor', local: inet('10.8.0.3', 5432), peer: g2.msg.local });
  closeAll(claim.fds);
  t.like(web.request({ type: 'stats_query' }).msg, { type: 'stats_reply', circuitsTotal: 2n });
  closeAll([...g1.fds, ...g2.fds, ...a1.fds, ...a2.fds, l.port]);
  db.close();
  web.close();
});

test.serial('an AF_INET6 listener sees the fast path\'s IPv4 peers as IPv4-mapped, as JavaScript\'s', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet6('::', 5433));
  const before = await answered(op);
  const grants = [web.connect(inet('10.8.0.3', 5433)), web.connect(inet('10.8.0.3', 5433))];
  t.is(await answered(op), before + 1);
  for (const g of grants) {
    const a = accept(l.port);
    if (g.msg.type !== 'connect_granted' || g.msg.local.family !== 'inet') return t.fail();
    t.like(a.msg, { type: 'incoming', local: inet6('::ffff:10.8.0.3', 5433), peer: inet6('::ffff:10.8.0.2', g.msg.local.port) });
    closeAll([...g.fds, ...a.fds]);
  }
  closeAll([l.port]);
  db.close();
  web.close();
});

test.serial('datagram connects never take the fast path: each new peer is counted in the receiver\'s mailbox first', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('10.8.0.3', 5432), 16, [], 'dgram');
  const before = await answered(op);
  const grants = [0, 1].map(() => web.connect(inet('10.8.0.3', 5432), { socketType: 'dgram' }));
  t.is(await answered(op), before, 'JavaScript answered both');
  t.is(native.memfdRead(l.mailbox, 0, 8).readBigUInt64LE(0), 2n, 'the mailbox counted both');
  for (const g of grants) {
    t.is(g.msg.type, 'connect_granted');
    const a = accept(l.port);
    t.like(a.msg, { type: 'incoming', socketType: 'dgram' });
    t.is(native.writeBytes(g.fds[1]!, Buffer.from('d')), 1);
    t.deepEqual(native.readBytes(a.fds[1]!, 8), Buffer.from('d'), 'a doorbell endpoint pair');
    closeAll([...g.fds, ...a.fds]);
  }
  closeAll([l.port, l.mailbox]);
  db.close();
  web.close();
});

test.serial('closed notices the fast path takes are counted before the next request is answered', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5432), 16, ['reuse_addr']);
  const g = web.connect(inet('10.8.0.3', 5432));
  const a = accept(l.port);
  if (g.msg.type !== 'connect_granted') return t.fail();
  const stats = () => web.request({ type: 'stats_query' }).msg as Extract<Msg, { type: 'stats_reply' }>;
  const before = stats();
  // A claim about db's side of a circuit web is not an end of: ignored, as JavaScript always did.
  db.notice({ type: 'closed', circuit: g.msg.circuit + 1000n, bytesSent: 99n, bytesReceived: 99n, reset: false } as Omit<Msg, 'requestId'>);
  web.notice({ type: 'shutdown', circuit: g.msg.circuit, how: 'wr' } as Omit<Msg, 'requestId'>);
  web.notice({ type: 'closed', circuit: g.msg.circuit, bytesSent: 5n, bytesReceived: 7n, reset: true } as Omit<Msg, 'requestId'>);
  const after = stats(); // on the same connection: sees the notice sent before it
  t.is(after.bytesSent - before.bytesSent, 5n);
  t.is(after.bytesReceived - before.bytesReceived, 7n);
  const row = ((await op.admin({ cmd: 'circuits' })) as unknown as { circuits: Record<string, any>[] }).circuits.find((c) => c.id === String(g.msg.type === 'connect_granted' && g.msg.circuit));
  t.like(row, { connector: { tenant: 'web', closed: { bytesSent: '5', bytesReceived: '7', reset: true } } });
  closeAll([...g.fds, ...a.fds, l.port]);
  db.close();
  web.close();
});

test.serial('a denied connect on the fast path still fails with EPERM and writes its audit line', async (t) => {
  const { op } = t.context;
  const web = new TestClient(op.socket('web'));
  const db = new TestClient(op.socket('db'));
  const l = web.listen(inet('0.0.0.0', 80));
  const before = await answered(op);
  const denials = [db.connect(inet('10.8.0.2', 80)), db.connect(inet('10.8.0.2', 80))];
  t.is(await answered(op), before + 1, 'the second denial came from the fast path');
  for (const d of denials) {
    t.is(errnum(d), E.EPERM);
    t.is((d.msg as { message: string }).message, 'policy: defaults.connect denies db -> 10.8.0.2:80');
  }
  const audits = () => op.events().filter((e) => e.level === 'audit' && e.event === 'deny.connect' && e.tenant === 'db' && e.destination === '10.8.0.2:80');
  t.true(await eventually(() => audits().length === 2), 'one audit line per denial');
  const [js, fast] = audits();
  t.like(fast, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!(), program: 'test', type: 'stream', rule: 'defaults.connect', errno: E.EPERM, session: js!.session });
  t.true(Date.parse(String(fast!.time)) >= Date.parse(String(js!.time)));
  t.like(db.request({ type: 'stats_query' }).msg, { type: 'stats_reply', connectsDenied: 2n });
  t.false(native.waitReadable(l.port, 0), 'nothing reached the listener');
  closeAll([l.port]);
  web.close();
  db.close();
});

test.serial('backlog full: the fast path leaves it to JavaScript (EAGAIN, or a blocking connect waits)', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5434), 1);
  const warm = web.connect(inet('10.8.0.3', 5434), { nonblocking: true });
  const held = [...warm.fds, ...accept(l.port).fds];
  const before = await answered(op);
  for (let i = 0; i < 2; i++) {
    const g = web.connect(inet('10.8.0.3', 5434), { nonblocking: true });
    t.is(g.msg.type, 'connect_granted', `connection ${i + 1} of backlog+1`);
    held.push(...g.fds);
  }
  t.is(await answered(op), before + 2);
  t.is(errnum(web.connect(inet('10.8.0.3', 5434), { nonblocking: true })), E.EAGAIN);
  web.sendRaw(encode(connectMsg(777, inet('10.8.0.3', 5434))));
  t.false(native.waitReadable(web.fd, 100), 'a blocking connect waits while the queue is full');
  held.push(...accept(l.port).fds);
  const [r] = readAll(web.fd, 1);
  t.like(r, { type: 'connect_granted', requestId: 777 });
  t.is(await answered(op), before + 2, 'both answered by JavaScript');
  const next = web.connect(inet('10.8.0.3', 5434), { nonblocking: true });
  t.is(next.msg.type, 'error', 'still full: the waiting one took the room');
  closeAll([...held, ...next.fds, l.port]);
  db.close();
  web.close();
});

test.serial('a listener gone (closed or unlistened) is ECONNREFUSED, and a new one is found again', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5435));
  const held: number[] = [];
  for (let i = 0; i < 2; i++) held.push(...web.connect(inet('10.8.0.3', 5435)).fds);
  native.closeFd(l.port); // its only holder: the port hangs up, with two connections still queued
  t.is(errnum(web.connect(inet('10.8.0.3', 5435))), E.ECONNREFUSED, 'at once, before or after the operator noticed');
  t.is(errnum(web.connect(inet('10.8.0.3', 5435))), E.ECONNREFUSED);

  const b = db.bind(inet('0.0.0.0', 5436));
  if (b.msg.type !== 'bind_reply') return t.fail();
  const reservation = b.msg.reservation;
  t.is(db.request({ type: 'listen', reservation, backlog: 8 } as Omit<Msg, 'requestId'>).msg.type, 'ok');
  for (let i = 0; i < 2; i++) {
    const g = web.connect(inet('10.8.0.3', 5436));
    t.is(g.msg.type, 'connect_granted');
    held.push(...g.fds);
  }
  t.is(db.request({ type: 'unlisten', reservation } as Omit<Msg, 'requestId'>).msg.type, 'ok');
  const before = await answered(op);
  t.is(errnum(web.connect(inet('10.8.0.3', 5436))), E.ECONNREFUSED, 'unlistened');
  t.is(db.request({ type: 'listen', reservation, backlog: 8 } as Omit<Msg, 'requestId'>).msg.type, 'ok');
  const again = web.connect(inet('10.8.0.3', 5436));
  t.is(again.msg.type, 'connect_granted');
  t.is(await answered(op), before + 1, 'listening again: the fast path finds it');
  for (;;) {
    if (!native.waitReadable(b.fds[0]!, 0)) break;
    held.push(...accept(b.fds[0]!).fds);
  }
  closeAll([...held, ...again.fds, b.fds[0]!]);
  db.close();
  web.close();
});

test.serial('hostile and odd requests on a session the fast path serves are handled as before, in order', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const l = db.listen(inet('0.0.0.0', 5437), 64);
  const warm = new TestClient(op.socket('web'));
  closeAll([...warm.connect(inet('10.8.0.3', 5437)).fds, ...accept(l.port).fds]); // the decision is down now
  warm.close();
  const baseline = await answered(op);

  // Pipelined: ten connects in one go, answered in order.
  const c = new TestClient(op.socket('web'));
  for (let i = 0; i < 10; i++) c.sendRaw(encode(connectMsg(100 + i, inet('10.8.0.3', 5437))));
  t.deepEqual(readAll(c.fd, 10).map((m) => `${m.type}:${m.requestId}`), Array.from({ length: 10 }, (_, i) => `connect_granted:${100 + i}`));
  // A connect answered by JavaScript (another tenant's reservation) between two the fast path answers.
  c.sendRaw(encode(connectMsg(200, inet('10.8.0.3', 5437))));
  c.sendRaw(encode({ ...connectMsg(201, inet('10.8.0.3', 5437)), reservation: 99999n } as Msg));
  c.sendRaw(encode(connectMsg(202, inet('10.8.0.3', 5437))));
  t.deepEqual(readAll(c.fd, 3).map((m) => `${m.type}:${m.requestId}`), ['connect_granted:200', 'error:201', 'connect_granted:202']);
  // A connect, garbage, a connect: the first is answered, the garbage refused, the rest never.
  c.sendRaw(encode(connectMsg(300, inet('10.8.0.3', 5437))));
  c.sendRaw(Buffer.from('not a message at all'));
  native.sendMessage(c.fd, encode(connectMsg(301, inet('10.8.0.3', 5437)))); // EPIPE if the operator has hung up already
  t.deepEqual(
    readAll(c.fd).map((m) => `${m.type}:${m.requestId}${m.type === 'error' ? `:${m.errnum}` : ''}`),
    ['connect_granted:300', `error:0:${E.EPROTO}`],
  );
  c.close();
  // 100–109, 200 and 300 were the fast path's; 202 too unless it was read with 201 (then it waited for JavaScript).
  const served = (await answered(op)) - baseline;
  t.true(served === 12 || served === 13, `${served}`);

  // Each of these ends its session with EPROTO, whatever the fast path knows.
  const valid = Buffer.from(encode(connectMsg(400, inet('10.8.0.3', 5437))));
  const badType = Buffer.from(valid);
  badType[16] = 7; // socket_type
  const withFd = (fd: number) => ({ bytes: valid, fds: [fd] });
  const [x, y] = native.socketPair('stream');
  for (const [what, m] of [
    ['truncated', { bytes: valid.subarray(0, 40), fds: [] as number[] }],
    ['a bad socket type', { bytes: badType, fds: [] as number[] }],
    ['an fd attached', withFd(x)],
  ] as const) {
    const h = new TestClient(op.socket('web'));
    h.sendRaw(m.bytes, m.fds);
    const got = readAll(h.fd);
    t.deepEqual(got.map((r) => `${r.type}:${r.requestId}${r.type === 'error' ? `:${r.errnum}` : ''}`), [`error:0:${E.EPROTO}`], what);
    h.close();
  }
  native.closeFd(x);
  t.true(native.waitReadable(y, 5000) && (native.readBytes(y, 1) as Buffer).length === 0, 'the operator closed the fd that came with it');
  // Before hello the session is not served: the fast path knows the destination, yet EPROTO.
  const raw = native.connectSeqpacket(op.socket('web'));
  native.sendMessage(raw, valid);
  t.like(readAll(raw, 1)[0], { type: 'error', requestId: 400, errnum: E.EPROTO });
  native.closeFd(raw);
  t.is((await answered(op)) - baseline, served, 'none of these was the fast path\'s');

  let queued = 0;
  while (native.waitReadable(l.port, 0)) {
    closeAll(accept(l.port).fds);
    queued++;
  }
  t.is(queued, 13, 'exactly the granted connects reached the listener');
  closeAll([y, l.port]);
  db.close();
});

test.serial('a connector that stops reading loses its session, and nothing leaks', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const l = db.listen(inet('0.0.0.0', 5438), 4096);
  const reader = spawn('python3', [path.join(HELPERS, 'port_reader.py'), '1'], { stdio: ['ignore', 'ignore', 'inherit', l.port] });
  const exited = new Promise((r) => reader.once('exit', r));
  native.closeFd(l.port);
  const warm = new TestClient(op.socket('web'));
  closeAll(warm.connect(inet('10.8.0.3', 5438)).fds);
  warm.close();
  const probe = new TestClient(op.socket('web'));
  probe.close();
  await eventually(async () => (await op.status()).sessions === 1);
  // Open fds but those of the circuit pool, which its thread refills when it likes (three per circuit).
  const ownFds = async () => op.fdCount() - 3 * ((await op.status()).circuit_pool as number);
  const fds = await ownFds();
  const before = await answered(op);

  const c = new TestClient(op.socket('web'));
  let sent = 0;
  for (let id = 1000; sent < 20_000; id++) {
    const err = native.sendMessage(c.fd, encode(connectMsg(id, inet('10.8.0.3', 5438))));
    if (err === E.EAGAIN) {
      await sleep(1);
      id--;
      continue;
    }
    if (err !== 0) break; // the operator closed the session
    sent++;
  }
  t.true(sent < 20_000, 'the operator gave up on the session');
  // Mostly grants; on a loaded machine the reader falls behind, some connects fail, and an error reply is what overflows.
  t.true(
    await eventually(() => op.events().some((e) => e.event === 'session.close' && /cannot send (connect_granted|error): (EAGAIN|EWOULDBLOCK)/.test(String(e.reason)))),
    `closed because its grants could not be delivered: ${JSON.stringify(op.events().filter((e) => e.event === 'session.close').map((e) => e.reason))}`,
  );
  t.true((await answered(op)) - before > 100, 'by the fast path');
  c.close(); // with every grant still unread in it
  await exited;
  t.true(
    await eventually(async () => (await op.status()).circuits_open === 0 && (await ownFds()) <= fds, 15_000),
    `circuits ${(await op.status()).circuits_open}, fds ${await ownFds()} (before ${fds})`,
  );
  db.close();
});

test.serial('fast-path grants keep their ports: distinct, and taken for bind as on Linux', async (t) => {
  const { op } = t.context;
  const db = new TestClient(op.socket('db'));
  const web = new TestClient(op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5439), 512);
  const held: number[] = [];
  const ports = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const g = web.connect(inet('10.8.0.3', 5439));
    if (g.msg.type !== 'connect_granted' || g.msg.local.family !== 'inet') return t.fail();
    ports.add(g.msg.local.port);
    held.push(...g.fds, ...accept(l.port).fds);
  }
  t.is(ports.size, 300, 'no two live circuits share a port');
  const some = [...ports].slice(0, 20);
  for (const p of some) t.is(errnum(web.bind(inet('10.8.0.2', p))), E.EADDRINUSE, `port ${p} is a live circuit's`);
  for (let i = 0; i < 20; i++) {
    const b = web.bind(inet('0.0.0.0', 0));
    if (b.msg.type !== 'bind_reply' || b.msg.address.family !== 'inet') return t.fail();
    t.false(ports.has(b.msg.address.port), 'an ephemeral bind avoids them');
    held.push(...b.fds);
  }
  closeAll([...held, l.port]);
  db.close();
  web.close();
});

test.serial('a policy reload reaches the fast path, both ways', async (t) => {
  const { op } = t.context;
  const web = new TestClient(op.socket('web'));
  const db = new TestClient(op.socket('db'));
  const lw = web.listen(inet('0.0.0.0', 81));
  const ld = db.listen(inet('0.0.0.0', 5432), 64, ['reuse_addr']);
  for (let i = 0; i < 2; i++) {
    t.is(errnum(db.connect(inet('10.8.0.2', 81))), E.EPERM);
    const g = web.connect(inet('10.8.0.3', 5432));
    t.is(g.msg.type, 'connect_granted');
    closeAll(g.fds);
  }
  const reloads = op.events().filter((e) => e.event === 'policy.reload').length;
  fs.writeFileSync(op.policyFile!, POLICY.replace('from: web\n    to: { tenant: db, ports: "5432-5439" }', 'from: db\n    to: { tenant: web, ports: 81 }'));
  process.kill(op.pid, 'SIGHUP');
  t.true(await eventually(() => op.events().filter((e) => e.event === 'policy.reload').length > reloads));
  const held: number[] = [];
  for (let i = 0; i < 2; i++) {
    const g = db.connect(inet('10.8.0.2', 81));
    t.is(g.msg.type, 'connect_granted', 'denied before, allowed now');
    t.is(errnum(web.connect(inet('10.8.0.3', 5432))), E.EPERM, 'allowed before, denied now');
    held.push(...g.fds);
  }
  fs.writeFileSync(op.policyFile!, POLICY);
  process.kill(op.pid, 'SIGHUP');
  t.true(await eventually(() => op.events().filter((e) => e.event === 'policy.reload').length > reloads + 1));
  closeAll([...held, lw.port, ld.port]);
  web.close();
  db.close();
});
