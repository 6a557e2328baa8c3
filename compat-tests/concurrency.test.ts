/**
 * Threads, signals and a shared epoll instance, over circuits:
 *  - many threads on many connections at once (Python threads: the shim's
 *    calls run concurrently, the GIL is released around them);
 *  - a signal during a blocking recv: with SA_RESTART the call goes on and
 *    returns the data, without it fails with EINTR — checked against the
 *    kernel, with the same C program, in a namespace with loopback;
 *  - an epoll instance shared by a parent and its forked child, both
 *    accepting from one listening socket: every connection is taken once.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const PYTHON = tool('python3');

async function withOperator(t: { teardown: (f: () => Promise<void> | void) => void }) {
  const { dir, remove } = tempDir('sb-e2e-conc-');
  const op = await startOperator();
  t.teardown(async () => {
    await op.stop();
    remove();
  });
  return { op, dir, port: 20000 + Math.floor(Math.random() * 20000) };
}

const ECHO_SERVER = String.raw`
import socket, sys, threading
l = socket.socket(); l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(128)
print('listening', flush=True)
def serve(c):
    while d := c.recv(65536):
        c.sendall(d)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const THREADED_CLIENT = String.raw`
import hashlib, os, socket, sys, threading
port, threads, per = int(sys.argv[1]), 8, 12
bad = []
def worker(n):
    for i in range(per):
        data = os.urandom(65536 + n * 1000 + i)
        c = socket.create_connection(('127.0.0.1', port))
        sender = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
        sender.start()
        got = bytearray()
        while d := c.recv(65536):
            got += d
        sender.join(); c.close()
        if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
            bad.append((n, i, len(got)))
ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print('connections', threads * per, 'bad', len(bad), bad[:3])
`;

test('8 threads, 96 connections, each echoing 64 KiB+ with a sender thread per connection', async (t) => {
  const { op, dir, port } = await withOperator(t);
  fs.writeFileSync(path.join(dir, 'server.py'), ECHO_SERVER);
  fs.writeFileSync(path.join(dir, 'client.py'), THREADED_CLIENT);
  const server = startIsolated(op, PYTHON, [path.join(dir, 'server.py'), String(port)]);
  t.teardown(() => server.stop());
  await server.waitForLine(/^listening$/);
  const before = await op.tenant();
  const r = await runIsolated(op, PYTHON, [path.join(dir, 'client.py'), String(port)], { timeoutMs: 60_000 });
  t.is(r.status, 0, describeResult(r));
  t.is(r.stdout.trim(), 'connections 96 bad 0 []');
  t.true((await op.tenant()).connects_granted - before.connects_granted >= 96);
});

/** argv: port, restart (0|1), role (server|client).  Prints what recv returned. */
const SIGNAL_C = String.raw`
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
static void on_alarm(int sig) { (void)sig; }
int main(int argc, char **argv)
{
	int port = atoi(argv[1]), restart = atoi(argv[2]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (!strcmp(argv[3], "server")) {
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) { perror("listen"); return 1; }
		printf("listening\n"); fflush(stdout);
		for (int i = 0; i < 2; i++) {
			int c = accept(s, NULL, NULL);
			usleep(400000); /* the client's alarm fires while it waits for this */
			write(c, "late", 4);
			char b[8];
			read(c, b, sizeof b); /* until the client closes */
			close(c);
		}
		return 0;
	}
	if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	char b[8];
	ssize_t n = recv(s, b, sizeof b, 0);
	if (n < 0) printf("recv -1 %s\n", errno == EINTR ? "EINTR" : strerror(errno));
	else printf("recv %zd %.*s\n", n, (int)n, b);
	return 0;
}
`;

test('a signal during a blocking recv: SA_RESTART goes on, without it EINTR, as on the kernel', async (t) => {
  const { op, dir, port } = await withOperator(t);
  fs.writeFileSync(path.join(dir, 'sig.c'), SIGNAL_C);
  const bin = path.join(dir, 'sig');
  execFileSync(tool('gcc'), ['-O1', '-o', bin, path.join(dir, 'sig.c')]);
  // The kernel's answers, in a namespace of their own with loopback up.
  const kernel = spawnSync('unshare', ['--net', 'sh', '-c',
    `ip link set lo up; ${bin} ${port} 0 server & sleep 0.3; ${bin} ${port} 1 client; ${bin} ${port} 0 client; wait`], { encoding: 'utf8' });
  t.is(kernel.status, 0, kernel.stderr);
  const kernelLines = kernel.stdout.trim().split('\n').filter((l) => l.startsWith('recv'));
  t.deepEqual(kernelLines, ['recv 4 late', 'recv -1 EINTR'], 'the kernel, as expected');

  const server = startIsolated(op, bin, [String(port), '0', 'server']);
  t.teardown(() => server.stop());
  await server.waitForLine(/^listening$/);
  const restarted = await runIsolated(op, bin, [String(port), '1', 'client']);
  const interrupted = await runIsolated(op, bin, [String(port), '0', 'client']);
  t.deepEqual([restarted.stdout.trim(), interrupted.stdout.trim()], kernelLines, 'over circuits, the same');
});

const SHARED_EPOLL = String.raw`
import os, select, socket, sys
l = socket.socket(); l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(64); l.setblocking(False)
ep = select.epoll(); ep.register(l.fileno(), select.EPOLLIN)
r, w = os.pipe()
pid = os.fork()   # both processes wait in the same epoll instance
print('listening', flush=True) if pid else None
taken, seen = 0, False
while True:
    ev = ep.poll(0.5 if seen else 20)
    if not ev:
        break   # quiet for 500 ms after the first connection: the client is done
    seen = True
    try:
        c, _ = l.accept()
    except BlockingIOError:
        continue   # the other process took it
    taken += 1
    c.sendall(b'pid %d' % os.getpid()); c.close()
if pid == 0:
    os.write(w, b'%d' % taken); os._exit(0)
os.waitpid(pid, 0)
print('parent', taken, 'child', int(os.read(r, 16)), flush=True)
`;

const MANY_CLIENT = String.raw`
import socket, sys
pids = []
for i in range(40):
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    pids.append(c.recv(100).decode()); c.close()
print(len(pids), len(set(pids)))
`;

test('an epoll instance shared after fork: parent and child accept from one listener, each connection once', async (t) => {
  const { op, dir, port } = await withOperator(t);
  fs.writeFileSync(path.join(dir, 'server.py'), SHARED_EPOLL);
  fs.writeFileSync(path.join(dir, 'client.py'), MANY_CLIENT);
  const server = startIsolated(op, PYTHON, [path.join(dir, 'server.py'), String(port)]);
  t.teardown(() => server.stop());
  await server.waitForLine(/^listening$/);
  const r = await runIsolated(op, PYTHON, [path.join(dir, 'client.py'), String(port)], { timeoutMs: 30_000 });
  t.is(r.status, 0, describeResult(r));
  const [count] = r.stdout.trim().split(' ').map(Number);
  t.is(count, 40, 'every connection answered');
  const line = await server.waitForLine(/^parent \d+ child \d+$/, 15_000);
  const [, parent, child] = /^parent (\d+) child (\d+)$/.exec(line)!.map(Number);
  t.is(parent! + child!, 40, `each connection taken once (${line})`);
});
