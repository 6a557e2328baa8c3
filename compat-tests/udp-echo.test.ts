/**
 * A Python UDP echo server and a Python client exercising the datagram
 * socket API over circuits: datagrams of every size from 0 to 65,507 bytes
 * (each reply checked byte for byte), connected and unconnected client
 * sockets, IPv4 and IPv6, the source address the server sees, MSG_PEEK,
 * MSG_TRUNC, EMSGSIZE, and ECONNREFUSED from a port nobody bound.  Server and
 * each client run in their own network namespace with no interface up
 * (`switchboard run --isolate`), so circuits carry everything.
 *
 * The same client runs against the same server without the shim in one
 * namespace with loopback up (the kernel's column, in one test): every
 * expectation here is what Linux does, checked on every run, so a failure
 * over circuits is the shim's and not the test's.
 *
 * Serial: the circuit tests compare the operator's counters before and after.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';
import { checkIsolated, describeBare, inKernelNamespace, runBare } from './netns.ts';

const PYTHON = tool('python3');

/**
 * Echoes every datagram to its sender, unchanged — except the probe WHO,
 * answered with the address recvfrom reported for its sender, so a client
 * can compare it with its own getsockname.  Prints one JSON line per socket
 * (with its port and the server's pid) and one per new peer.
 */
const SERVER = String.raw`
import json, os, select, socket, sys

WHO = b'\x00switchboard-who\x00'

def say(**kw):
    print(json.dumps(kw), flush=True)

socks = {}
for host in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    socks[s] = host
    say(listening=host, port=s.getsockname()[1], pid=os.getpid())

seen = set()
while True:
    for s in select.select(list(socks), [], [])[0]:
        try:
            data, peer = s.recvfrom(1 << 17)
        except (BlockingIOError, ConnectionRefusedError):
            continue
        peer = list(peer[:2])
        if (socks[s], *peer) not in seen:
            seen.add((socks[s], *peer))
            say(peer=peer, local=socks[s])
        s.sendto(json.dumps(peer).encode() if data == WHO else data, tuple(peer))
`;

/** MODE HOST PORT [ARGS…]: prints one JSON report, or {"error": ERRNO} and exits 1. */
const CLIENT = String.raw`
import errno, json, os, random, select, socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
server = (host, port)
WHO = b'\x00switchboard-who\x00'
MAX = 65507  # the largest UDP payload over IPv4 (65535 - 8 - 20)
res = {}

def err(e):
    return 'timeout' if isinstance(e, socket.timeout) else errno.errorcode.get(e.errno, str(e.errno))

def udp(connected):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(5)
    if connected:
        s.connect(server)
    return s

def exchange(s, connected, data):  # one datagram there and back: the reply and where it came from
    if connected:
        s.send(data)
        return s.recv(1 << 17), server
    s.sendto(data, server)
    reply, src = s.recvfrom(1 << 17)
    return reply, src[:2]

try:
    if mode == 'exchange':  # connected|unconnected COUNT SEED: sizes 0, 1, MAX and COUNT random ones
        connected = sys.argv[4] == 'connected'
        rnd = random.Random(int(sys.argv[6]))
        sizes = [0, 1, MAX] + [rnd.randint(0, MAX) for _ in range(int(sys.argv[5]))]
        s = udp(connected)
        bad, sources = [], set()
        t0 = time.monotonic()
        for n in sizes:
            data = os.urandom(n)
            reply, src = exchange(s, connected, data)
            sources.add(tuple(src))
            if reply != data:
                bad.append([n, len(reply)])
        seconds = time.monotonic() - t0
        seen = json.loads(exchange(s, connected, WHO)[0])
        res = dict(count=len(sizes), bytes=sum(sizes), mismatched=bad, sources=sorted(list(x) for x in sources),
                   sockname=list(s.getsockname()[:2]), seen_by_server=seen, seconds=seconds)

    elif mode == 'peek':  # MSG_PEEK leaves the datagram queued; a short peek is truncated and still leaves it whole
        s = udp(True)
        s.send(b'peekaboo')
        select.select([s], [], [], 5)
        p1 = s.recv(64, socket.MSG_PEEK)
        p2 = s.recv(64, socket.MSG_PEEK)
        short, _, flags, _ = s.recvmsg(4, 0, socket.MSG_PEEK)
        taken = s.recv(64)
        s.setblocking(False)
        try:
            left = s.recv(64).decode()
        except BlockingIOError:
            left = 'EAGAIN'
        res = dict(peek=[p1.decode(), p2.decode()], short=[short.decode(), bool(flags & socket.MSG_TRUNC)],
                   taken=taken.decode(), left=left)

    elif mode == 'trunc':  # a short buffer takes the head of a datagram and the rest is dropped
        s = udp(True)
        data = os.urandom(1000)
        s.send(data)
        head, _, flags, _ = s.recvmsg(100)
        s.send(data)
        buf = bytearray(100)
        n = s.recv_into(buf, 100, socket.MSG_TRUNC)  # Linux returns the datagram's real length
        s.send(b'after')
        after = s.recv(64)
        res = dict(recvmsg=[len(head), head == data[:100], bool(flags & socket.MSG_TRUNC)],
                   recv_trunc=[n, bytes(buf) == data[:100]], after=after.decode())

    elif mode == 'refused':  # a port nobody bound: a connected socket's next call fails; an unconnected one hears nothing
        probe = socket.socket(family, socket.SOCK_DGRAM)
        probe.bind((host, 0))
        free = probe.getsockname()[1]
        probe.close()
        def connected_then(second):
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.settimeout(2)
            s.connect((host, free))
            s.send(b'anyone?')
            try:
                s.send(b'again?') if second == 'send' else s.recv(64)
                return 'ok'
            except OSError as e:
                return err(e)
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.settimeout(0.5)
        u.sendto(b'anyone?', (host, free))
        try:
            u.sendto(b'again?', (host, free))
            u.recv(64)
            unconnected = 'ok'
        except OSError as e:
            unconnected = err(e)
        res = dict(send_then_send=connected_then('send'), send_then_recv=connected_then('recv'), unconnected=unconnected)

    elif mode == 'toobig':  # the largest payload goes; one byte more is EMSGSIZE
        limit = MAX if family == socket.AF_INET else 65527  # IPv6: 65535 - 8
        s = udp(True)
        data = os.urandom(limit)
        s.send(data)
        ok = s.recv(1 << 17) == data
        try:
            s.send(os.urandom(limit + 1))
            over = 'ok'
        except OSError as e:
            over = err(e)
        res = dict(limit=[limit, ok], over=over)

    elif mode == 'hold':  # ten round trips, then keep the socket open until stopped
        s = udp(True)
        for i in range(10):
            s.send(b'%d' % i)
            s.recv(64)
        print(json.dumps(dict(holding=list(s.getsockname()[:2]))), flush=True)
        time.sleep(60)
except OSError as e:
    print(json.dumps(dict(error=err(e), what=str(e))))
    sys.exit(1)

print(json.dumps(res))
`;

/** One client run: what it does, against which server socket, and what its report must say. */
interface Case {
  readonly name: string;
  readonly mode: string;
  readonly host: '127.0.0.1' | '::1';
  readonly args: readonly string[];
  readonly check: (t: ExecutionContext<unknown>, r: Report, serverPort: number) => void;
}
type Report = Record<string, any>;

/**
 * Every reply equal to what was sent; replies from the server's address; the
 * server saw our address.  An unconnected socket is bound to the wildcard by
 * its first sendto (Linux's autobind), so its getsockname shows 0.0.0.0 (::)
 * while the server sees the loopback address with the same port.
 */
function checkExchange(host: string, connected: boolean, count: number) {
  return (t: ExecutionContext<unknown>, r: Report, serverPort: number) => {
    t.is(r.count, count + 3);
    t.deepEqual(r.mismatched, [], 'every reply is the datagram sent, byte for byte');
    t.deepEqual(r.sources, [[host, serverPort]], 'every reply came from the server\'s address');
    const [ip, port] = r.sockname as [string, number];
    t.true(port >= 32768 && port <= 60999, `an ephemeral port: ${port}`);
    if (connected) {
      t.is(ip, host, 'a connected socket is bound to the address that reaches the server');
      t.deepEqual(r.seen_by_server, r.sockname, 'the server saw our getsockname');
    } else {
      t.is(ip, host.includes(':') ? '::' : '0.0.0.0', 'an unconnected socket is bound to the wildcard');
      t.deepEqual(r.seen_by_server, [host, port], 'the server saw our port from the loopback address');
    }
  };
}

const PEEK = { peek: ['peekaboo', 'peekaboo'], short: ['peek', true], taken: 'peekaboo', left: 'EAGAIN' };
const TRUNC = { recvmsg: [100, true, true], recv_trunc: [1000, true], after: 'after' };
const REFUSED = { send_then_send: 'ECONNREFUSED', send_then_recv: 'ECONNREFUSED', unconnected: 'timeout' };
const is = (expected: unknown) => (t: ExecutionContext<unknown>, r: Report) => t.deepEqual(r, expected);

const CASES: Case[] = [];
for (const host of ['127.0.0.1', '::1'] as const) {
  const v = host === '::1' ? 'IPv6' : 'IPv4';
  // A few hundred random sizes on one socket; fewer on the others (it is the same data path).
  const random = host === '::1' ? 100 : 300;
  CASES.push(
    { name: `${v}, connected: 0, 1, 65,507 and ${random} random sizes echoed; the server saw our address`, mode: 'exchange', host,
      args: ['connected', String(random), '1'], check: checkExchange(host, true, random) },
    { name: `${v}, unconnected (sendto/recvfrom): 0, 1, 65,507 and 100 random sizes echoed; replies from the server's address`, mode: 'exchange', host,
      args: ['unconnected', '100', '2'], check: checkExchange(host, false, 100) },
    { name: `${v}: MSG_PEEK leaves the datagram, a short peek reports MSG_TRUNC`, mode: 'peek', host, args: [], check: is(PEEK) },
    { name: `${v}: a short buffer truncates (recvmsg MSG_TRUNC flag; recv(MSG_TRUNC) returns the real length)`, mode: 'trunc', host, args: [], check: is(TRUNC) },
    { name: `${v}: a port nobody bound: ECONNREFUSED on a connected socket's next call, silence on an unconnected one`, mode: 'refused', host, args: [], check: is(REFUSED) },
    { name: `${v}: the largest payload is echoed, one byte more is EMSGSIZE`, mode: 'toobig', host, args: [],
      check: is({ limit: [host === '::1' ? 65527 : 65507, true], over: 'EMSGSIZE' }) },
  );
}

interface Ctx {
  op: Operator;
  server: Background;
  ports: { '127.0.0.1': number; '::1': number };
  serverPid: number;
  /** Why the server over circuits did not start, if it did not. */
  serverFailed?: Error;
  dir: string;
  cleanup: () => void;
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-udp-echo-');
  fs.writeFileSync(path.join(dir, 'server.py'), SERVER);
  fs.writeFileSync(path.join(dir, 'client.py'), CLIENT);
  const op = await startOperator();
  const server = startIsolated(op, PYTHON, ['-u', path.join(dir, 'server.py'), '127.0.0.1', '::1']);
  t.context = { op, server, ports: { '127.0.0.1': 0, '::1': 0 }, serverPid: 0, dir, cleanup: remove };
  try {
    for (const host of ['127.0.0.1', '::1'] as const) {
      const line = JSON.parse(await server.waitForLine((l) => l.startsWith(`{"listening": "${host}"`))) as { port: number; pid: number };
      t.context.ports[host] = line.port;
      t.context.serverPid = line.pid;
    }
  } catch (e) {
    // Each test over circuits fails with this; the kernel's column runs all the same.
    t.context.serverFailed = e as Error;
  }
});

test.after.always(async (t) => {
  await t.context.server?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

/** The client over circuits: its JSON report (throws with both sides' output when it fails). */
async function client(t: ExecutionContext<Ctx>, mode: string, host: string, args: readonly string[]): Promise<Report> {
  if (t.context.serverFailed) throw t.context.serverFailed;
  const port = t.context.ports[host as keyof Ctx['ports']];
  const r = await runIsolated(t.context.op, PYTHON, [path.join(t.context.dir, 'client.py'), mode, host, String(port), ...args], { timeoutMs: 30_000 });
  if (r.status !== 0 || r.timedOut) throw new Error(`client ${mode} ${host}: ${describeResult(r)}\n--- server\n${t.context.server.output().stdout}\n${t.context.server.output().stderr}`);
  return JSON.parse(r.stdout) as Report;
}

for (const c of CASES) {
  test.serial(`over circuits: ${c.name}`, async (t) => {
    const before = await t.context.op.tenant();
    const r = await client(t, c.mode, c.host, c.args);
    if (c.mode === 'exchange') t.log(`${r.count} datagrams, ${r.bytes} bytes each way in ${r.seconds.toFixed(2)} s`);
    c.check(t, r, t.context.ports[c.host]);
    if (c.mode === 'exchange') {
      // The server's own line for this peer agrees with the reply it sent to WHO.
      const key = JSON.stringify(r.seen_by_server);
      const line = await t.context.server.waitForLine((l) => l.startsWith('{"peer"') && JSON.stringify(JSON.parse(l).peer) === key, 5000);
      t.is(JSON.parse(line).local, c.host);
    }
    const after = await t.context.op.tenant();
    if (c.mode !== 'refused') {
      t.log(`circuits_total ${before.circuits_total} → ${after.circuits_total}, connects_granted ${before.connects_granted} → ${after.connects_granted}`);
      t.true(after.circuits_total > before.circuits_total, 'the datagrams went over a circuit the operator granted');
    }
  });
}

test.serial('over circuits: the operator lists a dgram circuit, with its datagram counts, while a client holds one', async (t) => {
  const { op } = t.context;
  if (t.context.serverFailed) throw t.context.serverFailed;
  const port = t.context.ports['127.0.0.1'];
  const holder = startIsolated(op, PYTHON, [path.join(t.context.dir, 'client.py'), 'hold', '127.0.0.1', String(port)]);
  try {
    const [ip, clientPort] = (JSON.parse(await holder.waitForLine(/^\{"holding"/, 15_000)) as { holding: [string, number] }).holding;
    const circuits = (await op.circuits()) as Array<Record<string, any>>;
    t.log(JSON.stringify(circuits, null, 1).slice(0, 3000));
    const ends = (c: Record<string, any>) => [c.connector.address, c.acceptor.address].sort();
    const ours = circuits.find((c) => JSON.stringify(ends(c)) === JSON.stringify([`${ip}:${clientPort}`, `127.0.0.1:${port}`].sort()));
    t.truthy(ours, `a circuit between ${ip}:${clientPort} and 127.0.0.1:${port}`);
    t.is(ours?.type, 'dgram');
    // Ten datagrams each way (the counters are in memory the tenants write: statistics, but here nobody lies).
    const d = ours?.datagrams ?? {};
    t.deepEqual([Number(d.connector_to_acceptor), Number(d.acceptor_to_connector)], [10, 10], JSON.stringify(ours));
  } finally {
    await holder.stop();
  }
});

test.serial('the server is isolated (only lo, down); the same client without the shim cannot reach it', async (t) => {
  if (t.context.serverFailed) throw t.context.serverFailed;
  const { op, serverPid } = t.context;
  checkIsolated(t, serverPid);

  const before = await op.tenant();
  for (const host of ['127.0.0.1', '::1'] as const) {
    for (const how of ['connected', 'unconnected']) {
      const bare = await runBare(PYTHON, [path.join(t.context.dir, 'client.py'), 'exchange', host, String(t.context.ports[host]), how, '1', '1']);
      t.false(bare.timedOut);
      t.is(bare.status, 1, describeBare(bare));
      // Linux: no route for 127.0.0.1 with lo down; ::1 is not even an address there.
      t.is(JSON.parse(bare.stdout).error, host === '::1' ? 'EADDRNOTAVAIL' : 'ENETUNREACH', describeBare(bare));
    }
  }
  const after = await op.tenant();
  t.is(after.circuits_total, before.circuits_total, 'no circuit was granted to it');
});

// ---------------------------------------------------------------- the kernel's column


test('the kernel gives the same answers (server and clients in one namespace with loopback up, no shim)', async (t) => {
  const { dir } = t.context;
  // The server's pid is killed by the script itself (it is the shell's own child).
  const runs = CASES.map((c, i) => `echo "@${i} $("$PY" "$DIR/client.py" ${c.mode} ${c.host} $(port ${c.host}) ${c.args.join(' ')})"`);
  const r = await inKernelNamespace(
    [
      '"$PY" -u "$DIR/server.py" 127.0.0.1 ::1 > "$DIR/kernel-server.out" & SERVER=$!',
      'until [ "$(wc -l < "$DIR/kernel-server.out")" -ge 2 ]; do sleep 0.05; done',
      'port() { grep "\\"listening\\": \\"$1\\"" "$DIR/kernel-server.out" | sed "s/.*\\"port\\": \\([0-9]*\\).*/\\1/"; }',
      ...runs,
      'kill $SERVER',
    ].join('\n'),
    { PY: PYTHON, DIR: dir },
  );
  t.is(r.status, 0, r.stderr);
  const server = fs.readFileSync(path.join(dir, 'kernel-server.out'), 'utf8');
  const ports = Object.fromEntries(
    server.split('\n').filter((l) => l.startsWith('{"listening"')).map((l) => JSON.parse(l) as { listening: string; port: number }).map((l) => [l.listening, l.port]),
  );
  for (const [i, c] of CASES.entries()) {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`@${i} `));
    t.truthy(line, `no output for ${c.name}:\n${r.stdout}\n${r.stderr}`);
    if (!line) continue;
    const report = JSON.parse(line.slice(line.indexOf(' ') + 1)) as Report;
    t.is(report.error, undefined, `${c.name}: ${line}`);
    c.check(t, report, ports[c.host]);
  }
});
