/**
 * Listeners, connects and accepts through a real operator (embedded default
 * policy), with clients on real SOCK_SEQPACKET sockets and real fds.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { decode, encode, type Msg } from '../../build/gen/ts/protocol.ts';
import { E } from '../src/errno.ts';
import { native } from '../src/native.ts';
import { accept, closeAll, errnum, inet, TestClient } from './helpers/client.ts';
import { OperatorProcess } from './helpers/operator-process.ts';

const test = anyTest as TestFn<{ op: OperatorProcess }>;
const HELPERS = path.join(import.meta.dirname, 'helpers');

test.before(async (t) => {
  t.context.op = await OperatorProcess.start();
});
test.after.always(async (t) => {
  await t.context.op?.dispose();
});

test.serial('the tenant comes from the socket, and SO_PEERCRED goes into the log', async (t) => {
  const c = new TestClient(t.context.op.socket());
  const hello = c.request({ type: 'hello', pid: 4242, capabilities: ['inet6', 'async_connect'], shimVersion: 'x', program: 'liar' } as Omit<Msg, 'requestId'>);
  t.is(errnum(hello), E.EPROTO, 'a second hello is refused');
  c.close();
  const d = new TestClient(t.context.op.socket());
  d.close();
  const opened = t.context.op.events().filter((e) => e.event === 'session.open');
  t.true(opened.length >= 2);
  t.true(opened.every((e) => e.pid === process.pid && e.uid === process.getuid!() && e.tenant === 'default'));
  const hellos = t.context.op.events().filter((e) => e.event === 'session.hello');
  t.true(hellos.every((e) => e.pid === process.pid && e.claimed_pid === process.pid));
});

test.serial('hello_reply names the tenant and the capabilities in use', (t) => {
  const c = new TestClient(t.context.op.socket());
  const r = c.request({ type: 'hello', pid: 1, capabilities: ['inet6', 'async_connect'], shimVersion: 'x', program: 'p' } as Omit<Msg, 'requestId'>);
  t.is(errnum(r), E.EPROTO);
  c.close();
  const raw = new (class extends TestClient {})(t.context.op.socket());
  raw.close();
  const fresh = native.connectSeqpacket(t.context.op.socket());
  native.sendMessage(fresh, encode({ type: 'hello', requestId: 9, pid: 1, capabilities: ['inet6', 'async_connect'], shimVersion: 'x', program: 'p' }));
  native.waitReadable(fresh, 5000);
  const m = native.recvMessage(fresh, 512, 2);
  native.closeFd(fresh);
  t.is(m.kind, 'message');
  const reply = decode((m as { bytes: Buffer }).bytes, 'operator-to-shim');
  t.like(reply, { type: 'hello_reply', requestId: 9, tenant: 'default', operatorPid: t.context.op.pid, capabilities: ['inet6'] });
});

test.serial('connect → circuit: both ends get the same sealed memory and a connected endpoint pair', async (t) => {
  const server = new TestClient(t.context.op.socket());
  const client = new TestClient(t.context.op.socket());
  const l = server.listen(inet('127.0.0.1', 8001));
  t.false(native.waitReadable(l.port, 0), 'nothing queued yet');
  const g = client.connect(inet('127.0.0.1', 8001));
  t.is(g.msg.type, 'connect_granted');
  if (g.msg.type !== 'connect_granted') return;
  t.is(g.fds.length, 2);
  t.true(native.waitReadable(l.port, 0), 'a pending connection makes the listening fd readable');
  const a = accept(l.port);
  t.false(native.waitReadable(l.port, 0), 'accepted: nothing queued any more');
  if (a.msg.type !== 'incoming') return t.fail();
  t.is(a.msg.circuit, g.msg.circuit);
  t.deepEqual(a.msg.peer, g.msg.local);
  t.deepEqual(a.msg.local, inet('127.0.0.1', 8001));
  t.is(g.msg.local.family === 'inet' && g.msg.local.address, '127.0.0.1');
  t.true(g.msg.local.family === 'inet' && g.msg.local.port >= 32768 && g.msg.local.port <= 60999);
  const [memfd, connector] = g.fds as [number, number];
  const [memfdB, acceptor] = a.fds as [number, number];
  t.is(native.fdIdentity(memfd).ino, native.fdIdentity(memfdB).ino, 'one memfd');
  t.is(native.memfdSeals(memfd) & 0b111, 0b111, 'sealed: no shrink, no grow, no more seals');
  t.is(BigInt(fs.fstatSync(memfd).size), g.msg.geometry.memfdBytes);
  native.memfdWrite(memfd, Number(g.msg.geometry.ringAOffset), Buffer.from('over the circuit'));
  t.is(native.memfdRead(memfdB, Number(a.msg.geometry.ringAOffset), 16).toString(), 'over the circuit');
  t.is(native.writeBytes(connector, Buffer.from('!')), 1);
  t.deepEqual(native.readBytes(acceptor, 1), Buffer.from('!'), 'the endpoints are the two ends of one socket pair');

  const listed = await t.context.op.admin({ cmd: 'circuits' });
  t.true(listed.ok);
  const row = (listed as unknown as { circuits: any[] }).circuits.find((c) => c.id === String(g.msg.type === 'connect_granted' && g.msg.circuit));
  t.like(row, { type: 'stream', connector: { tenant: 'default', pid: process.pid }, acceptor: { tenant: 'default', address: '127.0.0.1:8001' } });
  closeAll([...g.fds, ...a.fds, l.port]);
  server.close();
  client.close();
});

test.serial('errors a program would see: ECONNREFUSED, requests before hello, unknown reservations', (t) => {
  const c = new TestClient(t.context.op.socket());
  const r = c.connect(inet('127.0.0.1', 8002));
  t.is(errnum(r), E.ECONNREFUSED);
  t.regex((r.msg as { message: string }).message, /nothing listens on 127\.0\.0\.1:8002/);
  t.is(errnum(c.request({ type: 'listen', reservation: 999n, backlog: 1 } as Omit<Msg, 'requestId'>)), E.EINVAL);
  t.is(errnum(c.connect(inet('127.0.0.1', 0))), E.ECONNREFUSED);
  c.close();
  const fd = native.connectSeqpacket(t.context.op.socket());
  native.sendMessage(fd, encode({ type: 'stats_query', requestId: 5 }));
  native.waitReadable(fd, 5000);
  const m = native.recvMessage(fd, 512, 2) as { bytes: Buffer };
  t.like(decode(m.bytes, 'operator-to-shim'), { type: 'error', requestId: 5, errnum: E.EPROTO });
  native.closeFd(fd);
});

test.serial('requests before a hostile message are answered in order, then the connection is closed', (t) => {
  const c = new TestClient(t.context.op.socket());
  c.sendRaw(encode({ type: 'stats_query', requestId: 41 }));
  c.sendRaw(Buffer.from('definitely not a message'));
  try {
    c.sendRaw(encode({ type: 'stats_query', requestId: 42 }));
  } catch (e) {
    // The operator may have closed the connection already (it read the hostile message first): EPIPE.
    if ((e as { errnum?: number }).errnum !== E.EPIPE) throw e;
  }
  const got: string[] = [];
  for (;;) {
    t.true(native.waitReadable(c.fd, 5000));
    const r = native.recvMessage(c.fd, 512, 2);
    if (r.kind !== 'message') break;
    const m = decode(r.bytes, 'operator-to-shim') as Msg;
    got.push(`${m.type}:${m.requestId}${m.type === 'error' ? `:${m.errnum}` : ''}`);
  }
  t.deepEqual(got, ['stats_reply:41', `error:0:${E.EPROTO}`]);
  c.close();
});

test.serial('the backlog: backlog+1 wait; then non-blocking connects get EAGAIN and blocking ones wait for room', (t) => {
  const server = new TestClient(t.context.op.socket());
  const client = new TestClient(t.context.op.socket());
  const l = server.listen(inet('127.0.0.1', 8003), 1);
  const held: number[] = [];
  for (let i = 0; i < 2; i++) {
    const g = client.connect(inet('127.0.0.1', 8003), { nonblocking: true });
    t.is(g.msg.type, 'connect_granted', `connection ${i + 1} of backlog+1`);
    held.push(...g.fds);
  }
  t.is(errnum(client.connect(inet('127.0.0.1', 8003), { nonblocking: true })), E.EAGAIN);
  // A blocking connect waits at the operator (as a SYN Linux drops) until accept makes room.
  client.sendRaw(encode({ type: 'connect', requestId: 777, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination: inet('127.0.0.1', 8003), options: [] }));
  t.false(native.waitReadable(client.fd, 100), 'no answer while the queue is full');
  const a = accept(l.port);
  held.push(...a.fds);
  t.true(native.waitReadable(client.fd, 5000));
  const r = native.recvMessage(client.fd, 512, 2) as { bytes: Buffer; fds: number[] };
  t.like(decode(r.bytes, 'operator-to-shim'), { type: 'connect_granted', requestId: 777 });
  held.push(...r.fds);
  closeAll([...held, l.port]);
  server.close();
  client.close();
});

test.serial('processes sharing one listening fd each take whole connections', async (t) => {
  const server = new TestClient(t.context.op.socket());
  const client = new TestClient(t.context.op.socket());
  const l = server.listen(inet('127.0.0.1', 8004), 64);
  const readers = [0, 1].map(() => {
    const p = spawn('python3', [path.join(HELPERS, 'port_reader.py'), '1.5'], { stdio: ['ignore', 'pipe', 'inherit', l.port] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<string>((resolve) => p.on('exit', () => resolve(out)));
  });
  const ids: bigint[] = [];
  const held: number[] = [];
  for (let i = 0; i < 20; i++) {
    const g = client.connect(inet('127.0.0.1', 8004));
    if (g.msg.type === 'connect_granted') ids.push(g.msg.circuit);
    held.push(...g.fds);
  }
  native.closeFd(l.port);
  const outputs = await Promise.all(readers);
  const taken = outputs.flatMap((o) => o.trim().split('\n').filter(Boolean)).map((line) => {
    const [hex, nfds] = line.split(' ');
    const m = decode(Buffer.from(hex!, 'hex'), 'port');
    return { circuit: 'type' in m && m.type === 'incoming' ? m.circuit : -1n, fds: Number(nfds) };
  });
  t.is(ids.length, 20);
  t.deepEqual(taken.map((x) => x.circuit).sort((a, b) => Number(a - b)), ids);
  t.true(taken.every((x) => x.fds === 2), 'every connection arrives with its memfd and endpoint');
  closeAll(held);
  server.close();
  client.close();
});

test.serial('the fd is the capability: claim gives the memory to whoever holds an endpoint, and to no one else', async (t) => {
  const server = new TestClient(t.context.op.socket());
  const client = new TestClient(t.context.op.socket());
  const l = server.listen(inet('127.0.0.1', 8005));
  const g = client.connect(inet('127.0.0.1', 8005));
  const a = accept(l.port);
  if (g.msg.type !== 'connect_granted' || a.msg.type !== 'incoming') return t.fail();
  const at = Number(g.msg.geometry.ringBOffset);
  native.memfdWrite(a.fds[0]!, at, Buffer.from('secret'));

  const byEndpoint = client.request({ type: 'claim' }, [a.fds[1]!]);
  t.like(byEndpoint.msg, { type: 'claim_circuit', circuit: g.msg.circuit, role: 'acceptor', socketType: 'stream' });
  t.is(native.memfdRead(byEndpoint.fds[0]!, at, 6).toString(), 'secret');
  const byPort = client.request({ type: 'claim' }, [l.port]);
  t.like(byPort.msg, { type: 'claim_port', reservation: l.reservation, listening: true, backlog: 16 });
  const [x, y] = native.socketPair('stream');
  t.is(errnum(client.request({ type: 'claim' }, [x])), E.ENOENT, 'a socket the operator never made');
  const pipe = fs.openSync('/dev/null', 'r');
  t.is(errnum(client.request({ type: 'claim' }, [pipe])), E.ENOENT, 'not a socket');
  t.is(errnum(client.request({ type: 'claim' }, [g.fds[0]!])), E.ENOENT, 'the memfd itself proves nothing');

  // Another process that receives the connector's endpoint with SCM_RIGHTS gets the memory too.
  const [carrier, carried] = native.socketPair('seqpacket');
  native.sendMessage(carrier, Buffer.from('fd'), [g.fds[1]!]);
  const hello = encode({ type: 'hello', requestId: 1, pid: 0, capabilities: [], shimVersion: 'py', program: 'claimer' }).toString('hex');
  const claim = encode({ type: 'claim', requestId: 2 }).toString('hex');
  const r = spawnSync('python3', [path.join(HELPERS, 'claim_child.py'), t.context.op.socket(), hello, claim, String(at), '6'], {
    stdio: ['ignore', 'pipe', 'inherit', carried],
    encoding: 'utf8',
  });
  const [replyHex, memoryHex] = r.stdout.trim().split('\n');
  t.like(decode(Buffer.from(replyHex!, 'hex'), 'operator-to-shim'), { type: 'claim_circuit', circuit: g.msg.circuit, role: 'connector' });
  t.is(Buffer.from(memoryHex!, 'hex').toString(), 'secret');
  closeAll([...g.fds.slice(0, 1), ...a.fds, ...byEndpoint.fds, l.port, x, y, pipe, carrier, carried]);
  server.close();
  client.close();
});

test.serial('datagram circuits use the same path', (t) => {
  const server = new TestClient(t.context.op.socket());
  const client = new TestClient(t.context.op.socket());
  const l = server.listen(inet('127.0.0.1', 8006), 16, [], 'dgram');
  t.is(errnum(client.connect(inet('127.0.0.1', 8006))), E.ECONNREFUSED, 'stream and datagram ports are separate');
  const g = client.connect(inet('127.0.0.1', 8006), { socketType: 'dgram' });
  const a = accept(l.port);
  t.like(a.msg, { type: 'incoming', socketType: 'dgram' });
  t.true(l.mailbox >= 0, 'a datagram listen is answered with a mailbox');
  t.is(native.memfdRead(l.mailbox, 0, 8).readBigUInt64LE(0), 1n, 'the mailbox counts the incoming circuit');
  t.is(native.writeBytes(g.fds[1]!, Buffer.from('d')), 1);
  t.deepEqual(native.readBytes(a.fds[1]!, 8), Buffer.from('d'), 'a doorbell endpoint pair');
  closeAll([...g.fds, ...a.fds, l.port, l.mailbox]);
  server.close();
  client.close();
});

test.serial('stats_query: the tenant counters', (t) => {
  const c = new TestClient(t.context.op.socket());
  const s = c.request({ type: 'stats_query' });
  t.is(s.msg.type, 'stats_reply');
  if (s.msg.type === 'stats_reply') {
    t.true(s.msg.circuitsTotal >= 25n);
    t.true(s.msg.uptimeMs > 0n);
  }
  c.close();
});
