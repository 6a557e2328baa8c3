/**
 * UDP benchmarks as programs: iperf3 in UDP mode (a TCP control connection
 * plus a UDP data stream at 1 Gbit/s) and sockperf's UDP ping-pong, servers
 * and clients each in their own network namespace with no interface up, so
 * every datagram goes over circuits granted by a real operator.  While each
 * client runs, the operator must list a datagram circuit to its server.
 *
 * UDP may lose datagrams (a full ring drops at the sender, as a full socket
 * buffer drops on the kernel): iperf3's loss is reported, not required to be
 * zero.  sockperf's ping-pong has one message in flight, so nothing is lost.
 *
 * The same programs run without the shim in one namespace with loopback up
 * (the kernel's column, one test): every expectation is checked there too.
 *
 * Serial: the tests watch the operator's circuits and counters.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { type Background, childrenOf, type Operator, startIsolated, startOperator, tool } from './harness.ts';
import { checkIsolated, describeBare, inKernelNamespace, runBare, somePort } from './netns.ts';

const IPERF3 = tool('iperf3');
const SOCKPERF = tool('sockperf');

const iperfClientArgs = (port: number) => ['-u', '-c', '127.0.0.1', '-p', String(port), '-b', '1G', '-t', '2', '--json'];
const sockperfServerArgs = (port: number) => ['server', '-i', '127.0.0.1', '-p', String(port)];
const sockperfClientArgs = (port: number) => ['ping-pong', '-i', '127.0.0.1', '-p', String(port), '-t', '2'];

/**
 * iperf3 --json: the sender's and the receiver's sums (the receiver's come
 * from the server, over the control connection), and the loss the server saw.
 */
function checkIperf(t: ExecutionContext<unknown>, stdout: string) {
  let report: any;
  try {
    report = JSON.parse(stdout);
  } catch {
    t.fail(`iperf3 printed no JSON:\n${stdout.slice(0, 3000)}`);
    return;
  }
  t.is(report.error, undefined, stdout.slice(0, 3000));
  t.is(report.start?.test_start?.protocol, 'UDP');
  const sent = report.end?.sum_sent;
  const received = report.end?.sum_received;
  t.log(
    `sent ${sent?.packets} datagrams, ${((sent?.bits_per_second ?? 0) / 1e9).toFixed(2)} Gbit/s; ` +
      `the server received ${received?.bytes} bytes, lost ${received?.lost_packets}/${received?.packets} (${received?.lost_percent?.toFixed(3)} %)`,
  );
  t.true(sent?.bytes > 0, JSON.stringify(report.end));
  t.true(received?.bytes > 0, `the server received data: ${JSON.stringify(received)}`);
  t.true(received?.packets > 0);
  t.true(typeof received?.lost_percent === 'number' && received.lost_percent >= 0 && received.lost_percent <= 100, `lost percent ${received?.lost_percent}`);
  t.true(received.bytes <= sent.bytes, 'no more arrived than was sent');
}

/** sockperf ping-pong: a latency summary, messages received, none dropped, duplicated or reordered. */
function checkSockperf(t: ExecutionContext<unknown>, out: string) {
  const latency = /Summary: Latency is ([\d.]+) usec/.exec(out);
  const valid = /\[Valid Duration\] RunTime=[\d.]+ sec; SentMessages=(\d+); ReceivedMessages=(\d+)/.exec(out);
  t.truthy(latency, out);
  t.truthy(valid, out);
  if (!latency || !valid) return;
  t.log(`latency ${latency[1]} µs, ${valid[2]} messages received`);
  t.true(Number(valid[2]) > 0);
  t.is(valid[1], valid[2], 'every message was answered');
  t.regex(out, /# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0/);
}

interface Ctx {
  op: Operator;
  iperf: Background;
  sockperf: Background;
  ports: { iperf: number; sockperf: number };
  /** Why a server over circuits did not come up, if one did not. */
  failed?: Error;
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const op = await startOperator();
  const ports = { iperf: somePort(), sockperf: somePort() };
  if (ports.sockperf === ports.iperf) ports.sockperf++;
  const iperf = startIsolated(op, IPERF3, ['-s', '-p', String(ports.iperf), '--forceflush']); // (its output is a pipe)
  const sockperf = startIsolated(op, SOCKPERF, sockperfServerArgs(ports.sockperf));
  t.context = { op, iperf, sockperf, ports };
  try {
    await iperf.waitForLine(new RegExp(`Server listening on ${ports.iperf}`));
    await sockperf.waitForLine(new RegExp(`IP = 127\\.0\\.0\\.1\\s+PORT =\\s+${ports.sockperf} # UDP`));
  } catch (e) {
    t.context.failed = e as Error; // each test over circuits fails with it; the kernel's column runs all the same
  }
});

test.after.always(async (t) => {
  await t.context.iperf?.stop();
  await t.context.sockperf?.stop();
  await t.context.op?.stop();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs a client isolated in the background and looks at the operator's
 * circuits every 200 ms until it exits: its output, its exit status, and the
 * circuits seen that have the server's port at one end.
 */
async function runWatching(t: ExecutionContext<Ctx>, cmd: string, args: readonly string[], serverPort: number) {
  if (t.context.failed) throw t.context.failed;
  const client = startIsolated(t.context.op, cmd, args);
  const exit = new Promise<number | null>((resolve) => client.child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  let done = false;
  void exit.then(() => (done = true));
  const seen = new Map<string, Record<string, any>>();
  const deadline = Date.now() + 30_000;
  while (!done && Date.now() < deadline) {
    for (const c of (await t.context.op.circuits()) as Array<Record<string, any>>) {
      if ([c.connector.address, c.acceptor.address].some((a: string) => a.endsWith(`:${serverPort}`))) seen.set(`${c.id}`, c);
    }
    await sleep(200);
  }
  if (!done) await client.stop();
  const status = await exit;
  return { status, output: client.output(), circuits: [...seen.values()] };
}

test.serial('iperf3 -u at 1 Gbit/s for 2 s: the server receives, loss is reported; a stream and a datagram circuit', async (t) => {
  const before = await t.context.op.tenant();
  const r = await runWatching(t, IPERF3, iperfClientArgs(t.context.ports.iperf), t.context.ports.iperf);
  t.is(r.status, 0, `${r.output.stdout.slice(0, 3000)}\n${r.output.stderr}\n--- server\n${t.context.iperf.output().stdout.slice(-3000)}`);
  checkIperf(t, r.output.stdout);
  const types = new Set(r.circuits.map((c) => c.type));
  t.true(types.has('stream'), `the control connection: ${JSON.stringify(r.circuits)}`);
  t.true(types.has('dgram'), `the data stream: ${JSON.stringify(r.circuits)}`);
  for (const c of r.circuits.filter((x) => x.type === 'dgram')) t.log(`dgram circuit ${c.id}: datagrams ${JSON.stringify(c.datagrams)}, dropped ${JSON.stringify(c.dropped ?? null)}`);
  const after = await t.context.op.tenant();
  t.true(after.circuits_total - before.circuits_total >= 2, `circuits_total ${before.circuits_total} → ${after.circuits_total}`);
  // The server's own account of the test ends with its receiver line.
  await t.context.iperf.waitForLine(/ sec .* receiver$/, 5000);
});

test.serial('sockperf ping-pong over UDP for 2 s: a latency summary, every message answered; a datagram circuit', async (t) => {
  const before = await t.context.op.tenant();
  const r = await runWatching(t, SOCKPERF, sockperfClientArgs(t.context.ports.sockperf), t.context.ports.sockperf);
  t.is(r.status, 0, `${r.output.stdout.slice(-3000)}\n${r.output.stderr}`);
  checkSockperf(t, r.output.stdout + r.output.stderr);
  const dgram = r.circuits.filter((c) => c.type === 'dgram');
  t.true(dgram.length >= 1, `a datagram circuit to the server: ${JSON.stringify(r.circuits)}`);
  for (const c of dgram) t.log(`dgram circuit ${c.id}: datagrams ${JSON.stringify(c.datagrams)}`);
  const after = await t.context.op.tenant();
  t.true(after.circuits_total > before.circuits_total, `circuits_total ${before.circuits_total} → ${after.circuits_total}`);
});

test.serial('the servers are isolated (only lo, down); the clients without the shim cannot reach them', async (t) => {
  if (t.context.failed) throw t.context.failed;
  const { op, ports } = t.context;
  for (const server of [t.context.iperf, t.context.sockperf]) {
    const pid = childrenOf(server.child.pid!)[0]!;
    checkIsolated(t, pid);
  }
  const before = await op.tenant();
  const iperf = await runBare(IPERF3, iperfClientArgs(ports.iperf));
  // iperf3 3.12 exits 0 with --json even when it cannot connect: its report says why.
  t.false(iperf.timedOut, describeBare(iperf));
  t.regex(/"error":\s*"([^"]*)"/.exec(iperf.stdout)?.[1] ?? '', /unable to connect to server: Network is unreachable/, describeBare(iperf));
  const sockperf = await runBare(SOCKPERF, sockperfClientArgs(ports.sockperf));
  t.not(sockperf.status, 0, describeBare(sockperf));
  t.regex(sockperf.stdout + sockperf.stderr, /sendto\(\) Failed.*Network is unreachable/, describeBare(sockperf));
  t.is((await op.tenant()).circuits_total, before.circuits_total, 'no circuit was granted to them');
});

// ---------------------------------------------------------------- the kernel's column


test('the kernel gives the same answers (servers and clients in one namespace with loopback up, no shim)', async (t) => {
  const [ip, sp] = [5201, 11111];
  const r = await inKernelNamespace(
    [
      // -1: the iperf3 server ends after one test, so the script's wait returns.
      `"$IPERF3" -s -1 -p ${ip} > /dev/null & "$SOCKPERF" ${sockperfServerArgs(sp).join(' ')} > /dev/null 2>&1 & SOCKPERF_PID=$!`,
      'sleep 0.5',
      `echo "@@iperf3"; "$IPERF3" ${iperfClientArgs(ip).join(' ')}`,
      `echo "@@sockperf"; "$SOCKPERF" ${sockperfClientArgs(sp).join(' ')} 2>&1`,
      'kill $SOCKPERF_PID; wait',
    ].join('\n'),
    { IPERF3, SOCKPERF },
  );
  t.is(r.status, 0, r.stderr);
  const sections = new Map(r.stdout.split(/^@@/m).filter(Boolean).map((s) => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)]));
  checkIperf(t, sections.get('iperf3') ?? '');
  checkSockperf(t, sections.get('sockperf') ?? '');
});
