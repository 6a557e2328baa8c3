/**
 * A select()-driven Python echo server and a Python client exercising the
 * stream socket API over circuits: bulk transfer, half-close, MSG_PEEK,
 * MSG_WAITALL, non-blocking connect, socket names, ECONNREFUSED and IPv6.
 * Server and each client run in their own network namespace with no
 * interface up (`switchboard run --isolate`), so circuits carry everything.
 *
 * The server echoes every byte; when a client's side ends (EOF) it sends a
 * trailer "BYE <bytes received> <their sha256>\n" and closes, so a client
 * that half-closes learns what the server received.  It prints one JSON line
 * per listening socket and per accepted connection (its peer and local names).
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const PYTHON = tool('python3');

const SERVER = String.raw`
import hashlib, json, select, socket, sys

def say(**kw):
    print(json.dumps(kw), flush=True)

listeners = {}
for host in sys.argv[1:]:
    s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(64)
    s.setblocking(False)
    listeners[s] = host
    say(listening=host, port=s.getsockname()[1])

conns = {}  # socket -> [pending output, eof seen, bytes received, sha256]
while True:
    readers = list(listeners) + [s for s, c in conns.items() if not c[1] and len(c[0]) < (1 << 20)]
    writers = [s for s, c in conns.items() if c[0]]
    readable, writable, _ = select.select(readers, writers, [])
    for s in readable:
        if s in listeners:
            try:
                c, peer = s.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            conns[c] = [bytearray(), False, 0, hashlib.sha256()]
            say(accepted=listeners[s], peer=list(peer[:2]), local=list(c.getsockname()[:2]))
            continue
        c = conns[s]
        try:
            data = s.recv(1 << 16)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            data = b''
        if data:
            c[0] += data
            c[2] += len(data)
            c[3].update(data)
        else:
            c[1] = True
            c[0] += f'BYE {c[2]} {c[3].hexdigest()}\n'.encode()
    for s in writable:
        c = conns.get(s)
        try:
            del c[0][:s.send(c[0])]
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            c[0].clear()
            c[1] = True
    for s in [s for s, c in conns.items() if c[1] and not c[0]]:
        del conns[s]
        s.close()
`;

const CLIENT = String.raw`
import errno, hashlib, json, os, select, socket, sys, threading, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ':' in host else socket.AF_INET
sha = lambda b: hashlib.sha256(b).hexdigest()
res = {}

def connect():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    return s

def read_to_eof(s):
    got = bytearray()
    while True:
        d = s.recv(1 << 16)
        if not d:
            return bytes(got)
        got += d

def split_trailer(got):  # the echo, and the server's last line "BYE …" (none: '')
    i = got.rfind(b'BYE ')
    return (got, '') if i < 0 else (got[:i], got[i:].rstrip(b'\n').decode(errors='replace'))

if mode == 'bulk':  # SIZE TIMEOUT|none: send from a thread, then SHUT_WR; read the echo and the trailer to EOF
    data = os.urandom(int(sys.argv[4]))
    s = connect()
    s.settimeout(None if sys.argv[5] == 'none' else float(sys.argv[5]))  # a timeout: python polls before each call
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    sender = threading.Thread(target=send)
    sender.start()
    body, trailer = split_trailer(read_to_eof(s))
    sender.join()
    res = dict(sent=[len(data), sha(data)], echoed=[len(body), sha(body)], trailer=trailer, seconds=time.monotonic() - t0)

elif mode == 'halfclose':  # after SHUT_WR: sending fails with EPIPE, reading goes on to the server's EOF
    s = connect()
    s.sendall(b'first half')
    s.shutdown(socket.SHUT_WR)
    try:
        s.send(b'more')
        res['send_after_shutdown'] = 'ok'
    except OSError as e:
        res['send_after_shutdown'] = errno.errorcode[e.errno]
    got = read_to_eof(s)
    res.update(got=got.decode(), again=s.recv(10).decode(), expected_sha=sha(b'first half'))

elif mode == 'peek':  # MSG_PEEK shows the data without taking it
    s = connect()
    s.sendall(b'peekaboo')
    peeks = []
    deadline = time.monotonic() + 5
    while (not peeks or len(peeks[-1]) < 8) and time.monotonic() < deadline:
        select.select([s], [], [], 5)
        peeks.append(s.recv(64, socket.MSG_PEEK))
    again = s.recv(64, socket.MSG_PEEK)
    taken = s.recv(64)
    s.setblocking(False)  # (python waits out a timeout socket's timeout before any recv)
    try:
        left = s.recv(64).decode()
    except BlockingIOError:
        left = 'EAGAIN'
    res = dict(peek=peeks[-1].decode(), again=again.decode(), taken=taken.decode(), left=left)

elif mode == 'waitall':  # one recv(MSG_WAITALL) returns all of an echo that arrives in pieces
    def waitall(queued):  # starting on an empty queue, or with the echo of some of the first queued bytes there
        data = os.urandom(1 << 20)
        s = connect()
        s.settimeout(None)  # blocking: python runs a timeout socket non-blocking, where MSG_WAITALL cannot wait
        if queued:
            s.sendall(data[:queued])
            select.select([s], [], [], 5)
        def send():
            time.sleep(0.05)  # recv is waiting by now
            for i in range(queued, len(data), 1 << 16):
                s.sendall(data[i:i + (1 << 16)])
                time.sleep(0.002)
        sender = threading.Thread(target=send)
        sender.start()
        got = s.recv(len(data), socket.MSG_WAITALL)
        sender.join()
        s.close()
        return [len(got), got == data]
    res = dict(empty=waitall(0), queued=waitall(1 << 16))

elif mode == 'nonblocking':  # connect: EINPROGRESS, then writable, then SO_ERROR 0; then it works
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((host, port))
    p = select.poll()
    p.register(s, select.POLLOUT)
    events = p.poll(5000)
    so_error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.setblocking(True)
    s.settimeout(10)
    s.sendall(b'ping')
    res = dict(connect=errno.errorcode.get(rc, rc), events=[e for _, e in events], pollout=select.POLLOUT,
               so_error=so_error, echo=s.recv(4).decode())

elif mode == 'names':  # our names, after an echo round trip (so the server has accepted us)
    s = connect()
    s.sendall(b'who')
    res = dict(echo=s.recv(3).decode(), sockname=list(s.getsockname()[:2]), peername=list(s.getpeername()[:2]))

elif mode == 'refused':  # a port bound but not listening: ECONNREFUSED, for blocking and non-blocking connects
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.bind((host, 0))
    free = holder.getsockname()[1]
    s = socket.socket(family, socket.SOCK_STREAM)
    rc = s.connect_ex((host, free))
    n = socket.socket(family, socket.SOCK_STREAM)
    n.setblocking(False)
    nrc = n.connect_ex((host, free))
    select.select([], [n], [], 5)
    res = dict(blocking=errno.errorcode.get(rc, rc), nonblocking=errno.errorcode.get(nrc, nrc),
               so_error=errno.errorcode.get(n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), '0'))

print(json.dumps(res))
`;

interface Ctx {
  op: Operator;
  server: Background;
  ports: { v4: number; v6: number };
  client: string;
  cleanup: () => void;
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-echo-');
  fs.writeFileSync(path.join(dir, 'server.py'), SERVER);
  fs.writeFileSync(path.join(dir, 'client.py'), CLIENT);
  const op = await startOperator();
  const server = startIsolated(op, PYTHON, ['-u', path.join(dir, 'server.py'), '127.0.0.1', '::1']);
  t.context = { op, server, ports: { v4: 0, v6: 0 }, client: path.join(dir, 'client.py'), cleanup: remove };
  for (const [host, key] of [['127.0.0.1', 'v4'], ['::1', 'v6']] as const) {
    const line = await server.waitForLine((l) => l.startsWith(`{"listening": "${host}"`));
    t.context.ports[key] = (JSON.parse(line) as { port: number }).port;
  }
});

test.after.always(async (t) => {
  await t.context.server?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

/** Runs the client in `mode` against the server (IPv4 unless host is ::1); its JSON report. */
async function client(t: ExecutionContext<Ctx>, mode: string, host = '127.0.0.1', extra: string[] = []) {
  const port = host.includes(':') ? t.context.ports.v6 : t.context.ports.v4;
  const r = await runIsolated(t.context.op, PYTHON, [t.context.client, mode, host, String(port), ...extra], { timeoutMs: 30_000 });
  if (r.status !== 0 || r.timedOut) throw new Error(`client ${mode} ${host}: ${describeResult(r)}\n--- server\n${t.context.server.output().stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** 16 MiB each way: one thread sends (then SHUT_WR), the other reads the echo to EOF. */
async function bulk16(t: ExecutionContext<Ctx>, timeout: string) {
  const before = await t.context.op.tenant();
  const r = await client(t, 'bulk', '127.0.0.1', [String(16 << 20), timeout]);
  t.log(`16 MiB echoed in ${r.seconds.toFixed(2)} s`);
  t.deepEqual(r.echoed, r.sent, 'what came back is what was sent');
  t.is(r.sent[0], 16 << 20);
  t.is(r.trailer, `BYE ${r.sent[0]} ${r.sent[1]}`, 'the server received exactly what was sent');
  t.true((await t.context.op.tenant()).connects_granted > before.connects_granted, 'the connection was a granted circuit');
}

test('16 MiB each way, checksummed on both sides (blocking send and recv threads)', (t) => bulk16(t, 'none'));

// With a socket timeout, python waits in poll() before every send and recv: two threads poll the same socket.
test('16 MiB each way, checksummed on both sides (threads polling the same socket)', (t) => bulk16(t, '5'));

test('half-close: after SHUT_WR, send fails with EPIPE and the reply still arrives, then EOF', async (t) => {
  const r = await client(t, 'halfclose');
  t.is(r.send_after_shutdown, 'EPIPE');
  t.is(r.got, `first half` + `BYE 10 ${r.expected_sha}\n`);
  t.is(r.expected_sha, sha256('first half'));
  t.is(r.again, '', 'EOF again');
});

test('MSG_PEEK leaves the data for the next recv', async (t) => {
  t.deepEqual(await client(t, 'peek'), { peek: 'peekaboo', again: 'peekaboo', taken: 'peekaboo', left: 'EAGAIN' });
});

test('MSG_WAITALL returns 1 MiB in one call (starting on an empty queue, and with some queued)', async (t) => {
  t.deepEqual(await client(t, 'waitall'), { empty: [1 << 20, true], queued: [1 << 20, true] });
});

test('non-blocking connect: EINPROGRESS, writable, SO_ERROR 0', async (t) => {
  const r = await client(t, 'nonblocking');
  t.is(r.connect, 'EINPROGRESS');
  t.is(r.events.length, 1);
  t.truthy(r.events[0] & r.pollout, `poll events ${r.events}`);
  t.is(r.so_error, 0);
  t.is(r.echo, 'ping');
});

/** The client's names against the server's accept line for the same connection. */
async function checkNames(t: ExecutionContext<Ctx>, host: string) {
  const r = await client(t, 'names', host);
  t.is(r.echo, 'who');
  t.deepEqual(r.peername, [host, host.includes(':') ? t.context.ports.v6 : t.context.ports.v4]);
  t.is(r.sockname[0], host);
  t.true(r.sockname[1] >= 32768 && r.sockname[1] <= 60999, `ephemeral port ${r.sockname[1]}`);
  const key = JSON.stringify(r.sockname);
  const line = await t.context.server.waitForLine((l) => l.startsWith('{"accepted"') && JSON.stringify(JSON.parse(l).peer) === key, 5000);
  const accepted = JSON.parse(line) as { accepted: string; peer: unknown; local: unknown };
  t.deepEqual(accepted, { accepted: host, peer: r.sockname, local: r.peername }, 'server and client agree on both ends');
}

test('getsockname/getpeername agree with what the server accepted', (t) => checkNames(t, '127.0.0.1'));

test('IPv6 ::1: names agree, and 1 MiB each way', async (t) => {
  await checkNames(t, '::1');
  const r = await client(t, 'bulk', '::1', [String(1 << 20), 'none']);
  t.deepEqual(r.echoed, r.sent);
  t.is(r.trailer, `BYE ${1 << 20} ${r.sent[1]}`);
});

test('a port bound but not listening refuses: ECONNREFUSED', async (t) => {
  t.deepEqual(await client(t, 'refused'), { blocking: 'ECONNREFUSED', nonblocking: 'EINPROGRESS', so_error: 'ECONNREFUSED' });
  t.deepEqual(await client(t, 'refused', '::1'), { blocking: 'ECONNREFUSED', nonblocking: 'EINPROGRESS', so_error: 'ECONNREFUSED' });
});
