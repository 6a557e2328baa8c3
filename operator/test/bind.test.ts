/** Address reservations follow Linux's bind rules (one tenant = one address space). */
import anyTest, { type TestFn } from 'ava';
import type { Msg } from '../../build/gen/ts/protocol.ts';
import { overlaps } from '../src/daemon/reservations.ts';
import { E } from '../src/errno.ts';
import { native } from '../src/native.ts';
import { accept, closeAll, errnum, inet, inet6, TestClient } from './helpers/client.ts';
import { OperatorProcess } from './helpers/operator-process.ts';

const test = anyTest as TestFn<{ op: OperatorProcess; c: TestClient }>;

test.before(async (t) => {
  t.context.op = await OperatorProcess.start();
  t.context.c = new TestClient(t.context.op.socket());
});
test.after.always(async (t) => {
  t.context.c?.close();
  await t.context.op?.dispose();
});

function port(r: { msg: Msg; fds: number[] }): number {
  if (r.msg.type !== 'bind_reply') throw new Error(JSON.stringify(r.msg));
  return r.fds[0]!;
}

test('overlap: wildcards, v4-mapped addresses and IPV6_V6ONLY', (t) => {
  t.true(overlaps(inet('0.0.0.0', 1) as never, false, inet('127.0.0.1', 1) as never, false));
  t.false(overlaps(inet('127.0.0.1', 1) as never, false, inet('127.0.0.2', 1) as never, false));
  t.true(overlaps(inet6('::', 1) as never, false, inet('10.0.0.1', 1) as never, false));
  t.false(overlaps(inet6('::', 1) as never, true, inet('10.0.0.1', 1) as never, false));
  t.true(overlaps(inet6('::ffff:10.0.0.1', 1) as never, false, inet('10.0.0.1', 1) as never, false));
  t.false(overlaps(inet6('::1', 1) as never, false, inet('127.0.0.1', 1) as never, false));
});

test.serial('the same address twice is EADDRINUSE; a wildcard covers specific addresses', (t) => {
  const { c } = t.context;
  const a = port(c.bind(inet('127.0.0.1', 9001)));
  t.is(errnum(c.bind(inet('127.0.0.1', 9001))), E.EADDRINUSE);
  t.is(errnum(c.bind(inet('0.0.0.0', 9001))), E.EADDRINUSE);
  const other = port(c.bind(inet('127.0.0.2', 9001)));
  const dgram = port(c.bind(inet('127.0.0.1', 9001), [], 'dgram'));
  closeAll([a, other, dgram]);
});

test.serial('SO_REUSEADDR: both may bind, but only one may listen', (t) => {
  const { c } = t.context;
  const a = c.bind(inet('127.0.0.1', 9002), ['reuse_addr']);
  const b = c.bind(inet('127.0.0.1', 9002), ['reuse_addr']);
  t.is(a.msg.type, 'bind_reply');
  t.is(b.msg.type, 'bind_reply');
  if (a.msg.type !== 'bind_reply' || b.msg.type !== 'bind_reply') return;
  t.is(c.request({ type: 'listen', reservation: a.msg.reservation, backlog: 4 } as Omit<Msg, 'requestId'>).msg.type, 'ok');
  t.is(errnum(c.request({ type: 'listen', reservation: b.msg.reservation, backlog: 4 } as Omit<Msg, 'requestId'>)), E.EADDRINUSE);
  t.is(errnum(c.bind(inet('127.0.0.1', 9002), ['reuse_addr'])), E.EADDRINUSE, 'not next to a listener');
  closeAll([...a.fds, ...b.fds]);
});

test.serial('SO_REUSEPORT: several listeners of one user share the port and the connections', (t) => {
  const { c } = t.context;
  const l1 = c.listen(inet('127.0.0.1', 9003), 64, ['reuse_port']);
  const l2 = c.listen(inet('127.0.0.1', 9003), 64, ['reuse_port']);
  t.is(errnum(c.bind(inet('127.0.0.1', 9003))), E.EADDRINUSE, 'a socket without SO_REUSEPORT may not join');
  const held: number[] = [];
  for (let i = 0; i < 6; i++) held.push(...c.connect(inet('127.0.0.1', 9003)).fds);
  const got = [l1.port, l2.port].map((p) => {
    let n = 0;
    while (native.waitReadable(p, 0)) {
      held.push(...accept(p).fds);
      n++;
    }
    return n;
  });
  t.is(got[0]! + got[1]!, 6);
  t.true(got[0]! > 0 && got[1]! > 0, `both listeners take connections (${got.join(', ')})`);
  closeAll([...held, l1.port, l2.port]);
});

test.serial('IPv6: a wildcard without IPV6_V6ONLY takes IPv4 too', (t) => {
  const { c } = t.context;
  const dual = c.listen(inet6('::', 9004));
  t.is(errnum(c.bind(inet('0.0.0.0', 9004))), E.EADDRINUSE);
  const g = c.connect(inet('127.0.0.1', 9004));
  const a = accept(dual.port);
  t.like(a.msg, { type: 'incoming', local: { family: 'inet6', address: '::ffff:127.0.0.1', port: 9004 } });
  const only6 = port(c.bind(inet6('::', 9005), ['v6only']));
  const v4 = port(c.bind(inet('0.0.0.0', 9005)));
  closeAll([...g.fds, ...a.fds, dual.port, only6, v4]);
});

test.serial('port 0 takes distinct ephemeral ports from Linux\'s default range', (t) => {
  const { c } = t.context;
  const got = [0, 1, 2, 3].map(() => c.bind(inet('127.0.0.1', 0)));
  const ports = got.map((r) => (r.msg.type === 'bind_reply' && r.msg.address.family === 'inet' ? r.msg.address.port : 0));
  t.true(ports.every((p) => p >= 32768 && p <= 60999), ports.join(','));
  t.is(new Set(ports).size, 4);
  closeAll(got.flatMap((r) => r.fds));
});

test.serial('addresses the tenant does not have: EADDRNOTAVAIL', (t) => {
  t.is(errnum(t.context.c.bind(inet('192.0.2.1', 9006))), E.EADDRNOTAVAIL);
});

test.serial('release after the last close frees the address at once, so a re-bind succeeds', (t) => {
  const { c } = t.context;
  const r = c.bind(inet('127.0.0.1', 9007));
  if (r.msg.type !== 'bind_reply') return t.fail();
  native.closeFd(r.fds[0]!);
  t.is(c.request({ type: 'release', reservation: r.msg.reservation } as Omit<Msg, 'requestId'>).msg.type, 'ok');
  const again = c.bind(inet('127.0.0.1', 9007));
  t.is(again.msg.type, 'bind_reply');
  closeAll(again.fds);
});

test.serial('a reservation lives while any process holds its port fd', (t) => {
  const { c } = t.context;
  const r = c.bind(inet('127.0.0.1', 9008));
  if (r.msg.type !== 'bind_reply') return t.fail();
  const [carrier, other] = native.socketPair('seqpacket');
  native.sendMessage(carrier, Buffer.from('x'), [r.fds[0]!]);
  native.closeFd(r.fds[0]!);
  c.request({ type: 'release', reservation: r.msg.reservation } as Omit<Msg, 'requestId'>);
  t.is(errnum(c.bind(inet('127.0.0.1', 9008))), E.EADDRINUSE, 'still held (in flight)');
  closeAll([carrier, other]);
});
