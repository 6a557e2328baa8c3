/**
 * Clients that die in the middle of a setup leak nothing in the operator, and
 * circuits outlive the operator: established ones keep working through a
 * restart, new connects fail while it is down and work again afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { encode, type Msg } from '../../build/gen/ts/protocol.ts';
import { native, errnoOf } from '../src/native.ts';
import { E } from '../src/errno.ts';
import { accept, closeAll, errnum, inet, TestClient } from './helpers/client.ts';
import { eventually, OperatorProcess } from './helpers/operator-process.ts';

const HELPERS = path.join(import.meta.dirname, 'helpers');
const hex = (m: Msg) => Buffer.from(encode(m)).toString('hex');
const HELLO = hex({ type: 'hello', requestId: 1, pid: 0, capabilities: [], shimVersion: 'py', program: 'dying' });

/** Starts a dying_client.py and resolves once it is in place. */
async function dyingClient(socket: string, steps: string[]): Promise<ChildProcess> {
  const p = spawn('python3', [path.join(HELPERS, 'dying_client.py'), socket, `${HELLO}!`, ...steps], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (code) => reject(new Error(`dying_client exited early (${code})`)));
  });
  return p;
}

async function killHard(p: ChildProcess): Promise<void> {
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

test('clients killed in the middle of a setup leave no fds, sessions, reservations or circuits behind', async (t) => {
  const op = await OperatorProcess.start();
  try {
    const warm = new TestClient(op.socket());
    warm.close();
    await eventually(async () => (await op.status()).sessions === 0);
    const baseline = { fds: op.fdCount(), ...(await op.status()) };
    const children: ChildProcess[] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const port = 9500 + round;
        // A listener that never accepts, and a connector that never reads its grant.
        const listener = await dyingClient(op.socket(), [
          `${hex({ type: 'bind', requestId: 2, socketType: 'stream', address: inet('127.0.0.1', port), options: ['reuse_addr'] })}!`,
          `${hex({ type: 'listen', requestId: 3, reservation: BigInt(round + 1), backlog: 8 })}!`,
        ]);
        const connector = await dyingClient(op.socket(), [
          hex({ type: 'connect', requestId: 2, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination: inet('127.0.0.1', port), options: [] }),
          hex({ type: 'connect', requestId: 3, socketType: 'stream', reservation: 0n, source: { family: 'unspec' }, destination: inet('127.0.0.1', port), options: [] }),
          // and a message cut short in the middle
          Buffer.from(encode({ type: 'stats_query', requestId: 4 })).subarray(0, 9).toString('hex'),
        ]);
        children.push(listener, connector);
        // Both connects granted: the incoming sit unaccepted in the listener's queue, the grants unread.
        t.true(await eventually(async () => (await op.status()).tenants[0].circuits_total >= 2 * (round + 1)));
        await Promise.all([killHard(listener), killHard(connector)]);
      }
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    const settled = await eventually(async () => {
      const s = await op.status();
      return op.fdCount() <= baseline.fds && s.sessions === 0 && s.reservations === 0 && s.circuits_open === 0;
    }, 15_000);
    const s = await op.status();
    t.true(settled, `fds ${op.fdCount()} (baseline ${baseline.fds}), sessions ${s.sessions}, reservations ${s.reservations}, circuits ${s.circuits_open}`);
    t.true(s.sessions_opened >= 21);
  } finally {
    await op.dispose();
  }
});

test('circuits survive an operator restart; connects fail while it is down and work again after', async (t) => {
  const first = await OperatorProcess.start();
  const dir = first.dir;
  try {
    const server = new TestClient(first.socket());
    const client = new TestClient(first.socket());
    const l = server.listen(inet('127.0.0.1', 9600), 16, ['reuse_addr']);
    const g = client.connect(inet('127.0.0.1', 9600));
    const a = accept(l.port);
    if (g.msg.type !== 'connect_granted') return t.fail();
    const ring = Number(g.msg.geometry.ringAOffset);

    await first.stop('SIGKILL'); // a crash: nothing cleaned up
    native.memfdWrite(g.fds[0]!, ring, Buffer.from('after the crash'));
    t.is(native.memfdRead(a.fds[0]!, ring, 15).toString(), 'after the crash', 'the memory is still shared');
    t.is(native.writeBytes(g.fds[1]!, Buffer.from('x')), 1);
    t.deepEqual(native.readBytes(a.fds[1]!, 1), Buffer.from('x'), 'the endpoints still connect the two sides');
    t.true(native.waitReadable(l.port, 0), 'the listening socket sees the operator go');
    const gone = (() => {
      try {
        native.connectSeqpacket(first.socket());
        return 0;
      } catch (e) {
        return errnoOf(e);
      }
    })();
    t.is(gone, E.ECONNREFUSED, 'a connect while the operator is down fails with a clear errno');
    t.throws(() => client.connect(inet('127.0.0.1', 9600)), { message: /closed the connection|send failed/ });

    const second = await OperatorProcess.start({ dir });
    try {
      const server2 = new TestClient(second.socket());
      const client2 = new TestClient(second.socket());
      t.is(errnum(client2.connect(inet('127.0.0.1', 9600))), E.ECONNREFUSED, 'listeners belong to the old instance');
      const l2 = server2.listen(inet('127.0.0.1', 9600), 16, ['reuse_addr']);
      const g2 = client2.connect(inet('127.0.0.1', 9600));
      t.is(g2.msg.type, 'connect_granted');
      const a2 = accept(l2.port);
      t.is(errnum(client2.request({ type: 'claim' }, [g.fds[1]!])), E.ENOENT, 'circuits of the old instance are not the new one\'s');
      native.memfdWrite(a.fds[0]!, ring, Buffer.from('still working!!'));
      t.is(native.memfdRead(g.fds[0]!, ring, 15).toString(), 'still working!!');
      closeAll([...g2.fds, ...a2.fds, l2.port]);
      server2.close();
      client2.close();
    } finally {
      await second.dispose();
    }
    closeAll([...g.fds, ...a.fds, l.port]);
    server.close();
    client.close();
  } finally {
    await first.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a clean stop (SIGTERM) removes the sockets and exits 0', async (t) => {
  const op = await OperatorProcess.start();
  try {
    t.is(await op.stop('SIGTERM'), 0);
    t.false(fs.existsSync(op.socket()));
    t.false(fs.existsSync(op.files.admin));
  } finally {
    await op.dispose();
  }
});
