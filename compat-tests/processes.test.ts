/**
 * Connections that change hands between processes, over circuits: a
 * forked child serves while the parent closes its copy; an inetd-style
 * child gets the connection on fds 0 and 1 and execs a new program (which
 * claims it back from the operator); a connection travels to another
 * process with SCM_RIGHTS (the receiver claims it), that process started by
 * subprocess (vfork in CPython: the child must leave the parent's tables
 * alone).  A Python server, a Python client, each in its own namespace
 * without interfaces.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const PYTHON = tool('python3');

/** Serves three connections, one per mode (argv: port), each answered by another process. */
const SERVER = String.raw`
import os, socket, subprocess, sys
l = socket.socket(); l.bind(('127.0.0.1', int(sys.argv[1]))); l.listen(8)
print('listening', flush=True)
HANDLER = '''
import socket, sys
s = socket.socket(fileno=int(sys.argv[1])) if len(sys.argv) > 1 else None
if s is None:
    u = socket.socket(fileno=3)
    _, fds, _, _ = socket.recv_fds(u, 16, 1)
    s = socket.socket(fileno=fds[0])
d = s.recv(100)
s.sendall(b"%s %s %s" % (d, repr(s.getsockname()).encode(), repr(s.getpeername()).encode()))
s.close()
'''
# 1. fork: the child answers, the parent closes its copy at once.
c, _ = l.accept()
pid = os.fork()
if pid == 0:
    l.close()
    d = c.recv(100); c.sendall(b'forked child got ' + d); c.close(); os._exit(0)
c.close(); os.waitpid(pid, 0)
# 2. inetd: the connection on 0 and 1 of a new program (fork, dup2, exec).
c, _ = l.accept()
pid = os.fork()
if pid == 0:
    os.dup2(c.fileno(), 0); os.dup2(c.fileno(), 1); c.close(); l.close()
    os.execv(sys.executable, [sys.executable, '-c', HANDLER, '0'])
c.close(); os.waitpid(pid, 0)
# 3. SCM_RIGHTS to a process started by subprocess.
c, _ = l.accept()
a, b = socket.socketpair()
os.dup2(b.fileno(), 3) if b.fileno() != 3 else None
child = subprocess.Popen([sys.executable, '-c', HANDLER], pass_fds=[3])
socket.send_fds(a, [b'fd'], [c.fileno()])
c.close()
child.wait()
print('served', flush=True)
`;

const CLIENT = String.raw`
import json, socket, sys
out = []
for word in [b'one', b'two', b'three']:
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    c.sendall(word)
    got = b''
    while d := c.recv(1000):
        got += d
    out.append({'sent': word.decode(), 'got': got.decode(), 'me': repr(c.getsockname())})
    c.close()
print(json.dumps(out))
`;

test('a connection served by a forked child, by an exec\'d program on fds 0 and 1, and by a process it was sent to', async (t) => {
  const { dir, remove } = tempDir('sb-e2e-proc-');
  const op = await startOperator();
  try {
    fs.writeFileSync(path.join(dir, 'server.py'), SERVER);
    fs.writeFileSync(path.join(dir, 'client.py'), CLIENT);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = startIsolated(op, PYTHON, [path.join(dir, 'server.py'), String(port)]);
    try {
      await server.waitForLine(/^listening$/);
      const before = await op.tenant();
      const r = await runIsolated(op, PYTHON, [path.join(dir, 'client.py'), String(port)], { timeoutMs: 30_000 });
      t.is(r.status, 0, describeResult(r));
      const [fork, inetd, passed] = JSON.parse(r.stdout) as { sent: string; got: string; me: string }[];
      t.is(fork!.got, 'forked child got one');
      // The handlers report their own view of the socket: our peer is the client, its address the client's own.
      t.is(inetd!.got, `two ('127.0.0.1', ${port}) ${inetd!.me}`, 'the exec\'d program knows the socket (claimed)');
      t.is(passed!.got, `three ('127.0.0.1', ${port}) ${passed!.me}`, 'the receiver of SCM_RIGHTS knows the socket (claimed)');
      await server.waitForLine(/^served$/);
      const after = await op.tenant();
      t.true(after.connects_granted - before.connects_granted >= 3, 'three circuits');
    } finally {
      await server.stop();
    }
  } finally {
    await op.stop();
    remove();
  }
});
