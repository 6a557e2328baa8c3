/**
 * epoll shapes beyond one flat set, over circuits: an epoll instance nested
 * in another (registered there before any socket was in it), and an epoll
 * instance watched with poll().  A Python server and client, each isolated;
 * the server sleeps only in the outer instance (or in poll), so it hears of
 * its connections' data only if the shim makes the nested instance readable.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const PYTHON = tool('python3');

const SERVER = String.raw`
import socket, select, sys
port, mode = int(sys.argv[1]), sys.argv[2]
l = socket.socket(); l.bind(('127.0.0.1', port)); l.listen(16); l.setblocking(False)
inner = select.epoll(); outer = select.epoll()
outer.register(inner.fileno(), select.EPOLLIN)   # nested while still empty
inner.register(l.fileno(), select.EPOLLIN)
watch = select.poll(); watch.register(inner.fileno(), select.POLLIN)
print('listening', flush=True)
conns, served, wakeups = {}, 0, 0
while served < 3:
    if mode == 'nested':
        ev = outer.poll(10)
        assert ev and ev[0][0] == inner.fileno(), ev
    else:
        assert watch.poll(10000), 'poll timed out'
    wakeups += 1
    for fd, _ in inner.poll(0):
        if fd == l.fileno():
            c, _ = l.accept(); c.setblocking(False); conns[c.fileno()] = c; inner.register(c, select.EPOLLIN)
        else:
            c = conns[fd]; d = c.recv(100)
            if not d:
                inner.unregister(c); c.close(); del conns[fd]; served += 1
            else:
                c.sendall(d.upper())
print('served', served, 'wakeups', wakeups, flush=True)
`;

const CLIENT = String.raw`
import socket, sys, time
for i in range(3):
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
    time.sleep(0.05)   # the server is asleep by now: only a doorbell can wake it
    c.sendall(b'hello %d' % i)
    print(c.recv(100).decode())
    c.close()
`;

for (const mode of ['nested', 'poll'] as const) {
  test(`an epoll instance ${mode === 'nested' ? 'nested in another' : 'watched with poll()'} wakes for its circuits`, async (t) => {
    const { dir, remove } = tempDir('sb-e2e-epoll-');
    const op = await startOperator();
    try {
      fs.writeFileSync(path.join(dir, 'server.py'), SERVER);
      fs.writeFileSync(path.join(dir, 'client.py'), CLIENT);
      const port = 20000 + Math.floor(Math.random() * 20000);
      const server = startIsolated(op, PYTHON, [path.join(dir, 'server.py'), String(port), mode]);
      try {
        await server.waitForLine(/^listening$/);
        const r = await runIsolated(op, PYTHON, [path.join(dir, 'client.py'), String(port)], { timeoutMs: 30_000 });
        t.is(r.status, 0, describeResult(r));
        t.deepEqual(r.stdout.trim().split('\n'), ['HELLO 0', 'HELLO 1', 'HELLO 2']);
        const done = await server.waitForLine(/^served /);
        t.regex(done, /^served 3 wakeups \d+$/);
      } finally {
        await server.stop();
      }
    } finally {
      await op.stop();
      remove();
    }
  });
}
