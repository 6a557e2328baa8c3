/**
 * The command line: status and circuits (text and --json), metrics, and the
 * launcher `switchboard run` (environment, tenants on demand, --isolate, an
 * embedded operator when none runs, clear errors).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { decode, encode } from '../../build/gen/ts/protocol.ts';
import { native } from '../src/native.ts';
import { shimPath } from '../src/paths.ts';
import { accept, closeAll, inet, TestClient } from './helpers/client.ts';
import { CLI, OperatorProcess } from './helpers/operator-process.ts';

const test = anyTest as TestFn<{ op: OperatorProcess }>;
const HELPERS = path.join(import.meta.dirname, 'helpers');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

test.before(async (t) => {
  t.context.op = await OperatorProcess.start({ args: ['--metrics', '127.0.0.1:0'] });
});
test.after.always(async (t) => {
  await t.context.op?.dispose();
});

test.serial('status and circuits, as text and as JSON', (t) => {
  const { op } = t.context;
  const server = new TestClient(op.socket());
  const client = new TestClient(op.socket());
  const l = server.listen(inet('127.0.0.1', 9700));
  const g = client.connect(inet('127.0.0.1', 9700));
  const a = accept(l.port);
  // Ring A's producer counter (layout.h: page 0, ring[0].prod at byte 64): as if 5 bytes had been sent.
  native.memfdWrite(g.fds[0]!, 64, Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]));

  const text = cli(['status', '--runtime-dir', op.dir]);
  t.is(text.status, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`operator pid ${op.pid}`));
  t.regex(text.stdout, /default\s+2\s+1\s+1\s+0\s+\//);
  const status = JSON.parse(cli(['status', '--json', '--runtime-dir', op.dir]).stdout);
  t.like(status, { pid: op.pid, policy: 'embedded default', circuits_open: 1, reservations: 1 });
  t.like(status.tenants[0], { name: 'default', listeners: [{ address: '127.0.0.1:9700', type: 'stream', backlog: 16 }] });

  const circuits = JSON.parse(cli(['circuits', '--json', '--runtime-dir', op.dir]).stdout);
  t.is(circuits.length, 1);
  t.like(circuits[0], {
    type: 'stream',
    connector: { tenant: 'default', pid: process.pid },
    acceptor: { tenant: 'default', address: '127.0.0.1:9700' },
    bytes: { connector_to_acceptor: '5', acceptor_to_connector: '0' },
    datagrams: null,
  });
  t.true(circuits[0].age_ms >= 0);
  const table = cli(['circuits', '--runtime-dir', op.dir]).stdout;
  t.regex(table, /^id\s+type\s+connector\s+acceptor\s+bytes c>a\/a>c\s+datagrams\s+dropped\s+age$/m);
  t.regex(table, /stream\s+default 127\.0\.0\.1:\d+\s+default 127\.0\.0\.1:9700\s+5\/0\s+-/);

  // A datagram circuit counts records and drops too (layout.h: ring[i].prod_records and then
  // ring[i].prod_dropped follow ring[i].prod; ring[0] at byte 64, each ring's control area 256
  // bytes): as if 3 went one way and 2 the other, and 7 and 1 were dropped.
  const dl = server.listen(inet('127.0.0.1', 9703), 16, [], 'dgram');
  const dg = client.connect(inet('127.0.0.1', 9703), { socketType: 'dgram' });
  const da = accept(dl.port);
  native.memfdWrite(dg.fds[0]!, 72, Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]));
  native.memfdWrite(dg.fds[0]!, 64 + 256 + 8, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]));
  native.memfdWrite(dg.fds[0]!, 80, Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]));
  native.memfdWrite(dg.fds[0]!, 64 + 256 + 16, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
  const both = JSON.parse(cli(['circuits', '--json', '--runtime-dir', op.dir]).stdout);
  t.like(both.find((c: { type: string }) => c.type === 'dgram'), {
    datagrams: { connector_to_acceptor: '3', acceptor_to_connector: '2' },
    dropped: { connector_to_acceptor: '7', acceptor_to_connector: '1' },
  });
  t.regex(cli(['circuits', '--runtime-dir', op.dir]).stdout, /dgram\s+default 127\.0\.0\.1:\d+\s+default 127\.0\.0\.1:9703\s+0\/0\s+3\/2\s+7\/1/);
  closeAll([...dg.fds, ...da.fds, dl.port, dl.mailbox]);
  closeAll([...g.fds, ...a.fds, l.port]);
  server.close();
  client.close();
});

test.serial('stats (a tenant\'s counters, asked on its own socket) and reload', (t) => {
  const { op } = t.context;
  const stats = cli(['stats', '--runtime-dir', op.dir, '--tenant', 'default']);
  t.is(stats.status, 0, stats.stderr);
  t.like(JSON.parse(stats.stdout), { circuitsTotal: 2, connectsDenied: 0 }); // the stream and the datagram circuit above
  const reload = cli(['reload', '--runtime-dir', op.dir]);
  t.is(reload.status, 0, reload.stderr);
  t.regex(reload.stdout, /policy reloaded/);
});

test.serial('Prometheus metrics on --metrics', async (t) => {
  const state = JSON.parse(fs.readFileSync(t.context.op.files.state, 'utf8')) as { metrics: string };
  const res = await fetch(`http://${state.metrics}/metrics`);
  t.is(res.status, 200);
  const text = await res.text();
  t.regex(text, /^switchboard_circuits_open \d+$/m);
  t.regex(text, /^switchboard_connects_granted_total\{tenant="default"\} [1-9]\d*$/m);
  t.regex(text, /^# TYPE switchboard_connects_denied_total counter$/m);
  t.regex(text, /^switchboard_connect_setup_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
  t.regex(text, /^switchboard_connect_setup_seconds_count [1-9]\d*$/m);
  t.is((await fetch(`http://${state.metrics}/other`)).status, 404);
});

test.serial('switchboard run: the shim is preloaded and pointed at the tenant socket; tenants on demand', (t) => {
  const { op } = t.context;
  const server = new TestClient(op.socket());
  const l = server.listen(inet('127.0.0.1', 9701));
  const hello = encode({ type: 'hello', requestId: 1, pid: 0, capabilities: [], shimVersion: 'py', program: 'probe' }).toString('hex');
  const connect = encode({ type: 'connect', requestId: 2, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination: inet('127.0.0.1', 9701), options: [] }).toString('hex');
  const r = cli(['run', '--runtime-dir', op.dir, '--tenant', 'blue', '--', 'python3', path.join(HELPERS, 'isolated_probe.py'), hello, connect, '9'], {});
  t.is(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout);
  t.is(seen.SWITCHBOARD_SOCKET, op.socket('blue'));
  t.is(seen.SWITCHBOARD_TENANT, 'blue');
  t.is(seen.SWITCHBOARD_RUNTIME_DIR, op.dir);
  t.is(seen.LD_PRELOAD.split(' ')[0], shimPath());
  t.like(decode(Buffer.from(seen.hello, 'hex'), 'operator-to-shim'), { type: 'hello_reply', tenant: 'blue' });
  t.like(decode(Buffer.from(seen.connect, 'hex'), 'operator-to-shim'), { type: 'error' }, 'blue\'s loopback is its own');
  closeAll([l.port]);
  server.close();
});

test.serial('switchboard run --isolate: no interfaces; circuits are the only way out', (t) => {
  const { op } = t.context;
  const server = new TestClient(op.socket());
  const l = server.listen(inet('127.0.0.1', 9702));
  const hello = encode({ type: 'hello', requestId: 1, pid: 0, capabilities: [], shimVersion: 'py', program: 'isolated' }).toString('hex');
  const connect = encode({ type: 'connect', requestId: 2, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination: inet('127.0.0.1', 9702), options: [] }).toString('hex');
  const r = cli(['run', '--runtime-dir', op.dir, '--isolate', '--', 'python3', path.join(HELPERS, 'isolated_probe.py'), hello, connect, '9702']);
  t.is(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout);
  t.is(seen.SWITCHBOARD_ISOLATED, '1');
  t.is(seen.kernel_tcp, 'ENETUNREACH', 'kernel TCP has nowhere to go');
  t.is(seen.tcp, 'connected', 'the shim carried the same connect over a circuit');
  t.like(decode(Buffer.from(seen.connect, 'hex'), 'operator-to-shim'), { type: 'connect_granted' });
  t.is(seen.fds, 2);
  const viaShim = accept(l.port);
  t.is(viaShim.msg.type, 'incoming', 'the shim\'s connect reached the listener over a circuit');
  const a = accept(l.port);
  t.is(a.msg.type, 'incoming', 'the isolated program reached the listener over a circuit');
  const links = spawnSync('unshare', ['--net', 'ip', '-o', 'link'], { encoding: 'utf8' }).stdout.trim().split('\n');
  t.is(links.length, 1, 'a fresh namespace has only lo');
  closeAll([...viaShim.fds, ...a.fds, l.port]);
  server.close();
});

test('switchboard run starts an embedded operator when none runs, and passes the exit code on', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-run-test-'));
  try {
    const r = cli(['run', '--runtime-dir', dir, '--', 'sh', '-c', 'test -S "$SWITCHBOARD_SOCKET" && exit 7']);
    t.is(r.status, 7, r.stderr);
    t.false(fs.existsSync(path.join(dir, 'admin.sock')), 'the embedded operator stopped with the program');
    t.regex(fs.readFileSync(path.join(dir, 'operator.log'), 'utf8'), /"event":"operator.start"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('clear errors: no operator, unknown tenant, bad usage', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-cli-test-'));
  try {
    const none = cli(['status', '--runtime-dir', dir]);
    t.is(none.status, 1);
    t.regex(none.stderr, /no operator is running in .*switchboard operator/);
    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policy, 'version: 1\ntenants:\n  - name: only\n');
    const unknown = cli(['run', '--runtime-dir', path.join(dir, 'rt'), '--policy', policy, '--tenant', 'other', '--', 'true']);
    t.is(unknown.status, 1);
    t.regex(unknown.stderr, /unknown tenant "other" \(the policy .*policy\.yaml defines: only\)/);
    const usage = cli(['frobnicate']);
    t.is(usage.status, 2);
    t.regex(usage.stderr, /unknown command "frobnicate"/);
    const noCommand = cli(['run', '--runtime-dir', dir]);
    t.regex(noCommand.stderr, /no command/);
    const noUnshare = cli(['run', '--runtime-dir', dir, '--isolate', '--', 'true'], { PATH: '/nonexistent' });
    t.is(noUnshare.status, 1);
    t.regex(noUnshare.stderr, /--isolate needs unshare\(1\) from util-linux, which is not installed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
