/**
 * redis-server with redis-cli and redis-benchmark, each in its own network
 * namespace with no interface up, so every byte goes over circuits granted by
 * a real operator: a 1 MiB binary value set and read back (sha256 here, SHA-1
 * inside the server), and 20,000 SETs and GETs each from 20 connections.
 * The server's own counters (connections received, commands processed) must
 * agree with the clients', and the operator must have granted a circuit per
 * connection.
 *
 * Serial: the tests compare the operator's counters before and after.
 */
import anyTest, { type TestFn } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';
import { checkIsolated, describeBare, runBare, sha256, somePort } from './netns.ts';

const REDIS_SERVER = tool('redis-server');
const REDIS_CLI = tool('redis-cli');
const REDIS_BENCHMARK = tool('redis-benchmark');

interface Context {
  op: Operator;
  server: Background;
  port: number;
  dir: string;
  cleanup: () => void;
}
const test = anyTest as TestFn<Context>;

const VALUE = crypto.randomBytes(1 << 20);

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-redis-');
  const port = somePort();
  const op = await startOperator();
  const server = startIsolated(op, REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir,
  ]);
  t.context = { op, server, port, dir, cleanup: remove };
  await server.waitForLine(/Ready to accept connections/);
});

test.after.always(async (t) => {
  await t.context.server?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

/** redis-cli ARGS over a circuit. */
const cli = (t: { context: Context }, args: readonly string[], input?: Buffer) =>
  runIsolated(t.context.op, REDIS_CLI, ['-p', String(t.context.port), ...args], { input });

/** `INFO all` as a map (one connection). */
async function info(t: { context: Context }): Promise<Map<string, string>> {
  const r = await cli(t, ['INFO', 'all']);
  if (r.status !== 0) throw new Error(`INFO: ${describeResult(r)}`);
  return new Map(
    r.stdout
      .split(/\r?\n/)
      .filter((l) => l.includes(':') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as [string, string]),
  );
}

/** calls=N from a `cmdstat_<name>` line. */
const calls = (i: Map<string, string>, name: string) => Number(/calls=(\d+)/.exec(i.get(`cmdstat_${name}`) ?? '')?.[1] ?? 0);

test.serial('redis-cli sets and gets a 1 MiB binary value over circuits, byte for byte', async (t) => {
  const { op, dir } = t.context;
  const before = await op.tenant();
  const infoBefore = await info(t);

  const set = await cli(t, ['-x', 'SET', 'big'], VALUE); // -x: the last argument from standard input
  t.is(set.status, 0, describeResult(set));
  t.is(set.stdout, 'OK\n', describeResult(set));

  const strlen = await cli(t, ['STRLEN', 'big']);
  t.is(strlen.stdout.trim(), String(VALUE.length), describeResult(strlen));
  const sha1 = await cli(t, ['EVAL', "return redis.sha1hex(redis.call('GET', KEYS[1]))", '1', 'big']);
  t.is(sha1.stdout.trim(), crypto.createHash('sha1').update(VALUE).digest('hex'), `the server holds the value: ${describeResult(sha1)}`);

  // Binary output to a file (the harness reads output as text); --raw adds a newline.
  const out = path.join(dir, 'got.bin');
  const get = await runIsolated(op, 'sh', ['-c', `exec "$0" -p "$1" --raw GET big > "$2"`, REDIS_CLI, String(t.context.port), out]);
  t.is(get.status, 0, describeResult(get));
  const got = fs.readFileSync(out);
  t.is(got.length, VALUE.length + 1);
  t.is(sha256(got.subarray(0, VALUE.length)), sha256(VALUE), 'GET returned the value');
  t.is(got.at(-1), 0x0a);

  const infoAfter = await info(t);
  // INFO, SET, STRLEN, EVAL, GET: one connection each (the last INFO is counted as it arrives).
  const received = Number(infoAfter.get('total_connections_received')) - Number(infoBefore.get('total_connections_received'));
  t.is(received, 5);
  t.is(calls(infoAfter, 'set') - calls(infoBefore, 'set'), 1);
  const after = await op.tenant();
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted}; the server received ${received} connections`);
  t.true(after.connects_granted - before.connects_granted >= 6); // and the last INFO
});

test.serial('redis-benchmark: 20,000 SETs and GETs from 20 connections, no errors', async (t) => {
  const { op, port } = t.context;
  const before = await op.tenant();
  const infoBefore = await info(t);
  const r = await runIsolated(op, REDIS_BENCHMARK, ['-p', String(port), '-q', '-n', '20000', '-t', 'set,get', '-c', '20'], { timeoutMs: 40_000 });
  t.is(r.status, 0, describeResult(r));
  // -q prints progress lines ending in \r, then "SET: 61349.69 requests per second, p50=0.191 msec".
  const results = r.stdout
    .split(/[\r\n]/)
    .map((l) => /^(\w+): ([\d.]+) requests per second/.exec(l.trim()))
    .filter((m) => m !== null)
    .map((m) => [m[1]!, Number(m[2])] as const);
  t.log(results.map(([name, rps]) => `${name}: ${rps} requests per second`).join('\n'));
  t.deepEqual(results.map(([name]) => name), ['SET', 'GET'], describeResult(r));
  for (const [name, rps] of results) t.true(rps > 0, `${name}: ${rps}`);
  t.notRegex(r.stdout + r.stderr, /error/i, describeResult(r));

  const infoAfter = await info(t);
  t.true(calls(infoAfter, 'set') - calls(infoBefore, 'set') >= 20_000, infoAfter.get('cmdstat_set'));
  t.true(calls(infoAfter, 'get') - calls(infoBefore, 'get') >= 20_000, infoAfter.get('cmdstat_get'));
  t.is(infoAfter.get('rejected_connections'), '0');
  const received = Number(infoAfter.get('total_connections_received')) - Number(infoBefore.get('total_connections_received'));
  t.true(received >= 20 + 1, `the server received ${received} connections`); // and the INFO
  const after = await op.tenant();
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted}; the server received ${received} connections`);
  t.true(after.connects_granted - before.connects_granted >= received + 1);
});

test.serial('redis-server is isolated: only lo, down; redis-cli without the shim, isolated, cannot reach it', async (t) => {
  const { op, port } = t.context;
  const pid = Number((await info(t)).get('process_id'));
  t.true(pid > 0);
  checkIsolated(t, pid);

  const before = await op.tenant();
  const bare = await runBare(REDIS_CLI, ['-p', String(port), 'PING']);
  t.false(bare.timedOut);
  t.not(bare.status, 0, describeBare(bare));
  t.regex(bare.stdout + bare.stderr, /Could not connect to Redis at 127\.0\.0\.1:\d+: Network is unreachable/, describeBare(bare));
  const after = await op.tenant();
  t.is(after.connects_granted, before.connects_granted, 'no circuit was granted to it');
});
