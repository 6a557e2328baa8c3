/**
 * 100,000+ random, mutated and valid-but-meaningless control messages at a
 * running operator: each gets an error reply or a closed connection, never a
 * crash; afterwards it still grants circuits and holds no more fds than before.
 */
import test from 'ava';
import { decode, encode, isDecodeError, type Msg, TYPES } from '../../build/gen/ts/protocol.ts';
import { native } from '../src/native.ts';
import { accept, closeAll, inet, TestClient } from './helpers/client.ts';
import { mutated, Rng, validMessage } from './helpers/fuzz-messages.ts';
import { eventually, OperatorProcess } from './helpers/operator-process.ts';

const MESSAGES = 100_000;

/** What the operator must do with these bytes and fds: answer (how many replies), or close the connection. */
function verdict(bytes: Buffer, nfds: number): { fatal: boolean; replies: number } {
  if (bytes.length > 512) return { fatal: true, replies: 0 };
  const m = decode(bytes, 'shim-to-operator');
  if (isDecodeError(m) || TYPES[m.type].fds.length !== nfds) return { fatal: true, replies: 0 };
  return { fatal: false, replies: TYPES[m.type].kind === 'request' ? 1 : 0 };
}

test('the fuzz: every message gets an error reply or a closed connection, and the operator keeps working', async (t) => {
  const op = await OperatorProcess.start({ args: ['--connect-timeout', '1'] });
  try {
    const probe = new TestClient(op.socket());
    probe.close();
    const baselineFds = op.fdCount();
    const rng = new Rng(0x5b0a4d);
    const devnull = native.connectSeqpacket(op.socket()); // any fd will do as an attachment
    let sent = 0;
    let fatal = 0;
    let errors = 0;
    while (sent < MESSAGES) {
      const fd = native.connectSeqpacket(op.socket());
      if (rng.int(2) === 0) {
        native.sendMessage(fd, encode({ type: 'hello', requestId: 1, pid: 1, capabilities: [], shimVersion: 'fuzz', program: 'fuzz' }));
        sent++;
      }
      let expect = rng.int(2) === 0 ? 1 : 0; // the hello's reply
      let closes = false;
      const batch = 1 + rng.int(40);
      for (let i = 0; i < batch && !closes; i++) {
        const kind = rng.int(4);
        const bytes = kind === 0 ? rng.bytes(rng.int(600)) : kind === 1 ? Buffer.from(encode(validMessage(rng))) : mutated(rng);
        const fds = rng.int(8) === 0 ? [devnull] : rng.int(8) === 0 ? [devnull, devnull, devnull] : [];
        if (bytes.length === 0 || native.sendMessage(fd, bytes, fds) !== 0) continue;
        sent++;
        const v = verdict(bytes, fds.length);
        closes = v.fatal;
        expect += v.replies;
      }
      // Read until EOF (after a fatal message) or until a ping's reply comes back.
      if (!closes) native.sendMessage(fd, encode({ type: 'stats_query', requestId: 0xfffffff }));
      for (;;) {
        t.true(native.waitReadable(fd, 10_000), 'the operator answers');
        const r = native.recvMessage(fd, 512, 2);
        if (r.kind === 'eof') break;
        if (r.kind !== 'message') continue;
        closeAll(r.fds);
        const m = decode(r.bytes, 'operator-to-shim') as Msg;
        if (m.type === 'error') errors++;
        if (m.type === 'error' && m.requestId === 0) fatal++;
        if (m.requestId === 0xfffffff) break;
      }
      native.closeFd(fd);
    }
    native.closeFd(devnull);
    t.log(`${sent} messages, ${fatal} fatal (connection closed), ${errors} error replies`);
    const status = await op.status();
    t.true(status.messages_received >= MESSAGES, `the operator read ${status.messages_received}`);
    t.true(fatal > 10_000 && errors > fatal);

    // Still granting circuits.
    const server = new TestClient(op.socket());
    const client = new TestClient(op.socket());
    const l = server.listen(inet('127.0.0.1', 9990), 16, ['reuse_addr']);
    const g = client.connect(inet('127.0.0.1', 9990));
    t.is(g.msg.type, 'connect_granted');
    const a = accept(l.port);
    t.is(a.msg.type, 'incoming');
    closeAll([...g.fds, ...a.fds, l.port]);
    server.close();
    client.close();
    t.true(await eventually(() => op.fdCount() <= baselineFds), `fds back to ${baselineFds} (now ${op.fdCount()})`);
  } finally {
    await op.dispose();
  }
});
