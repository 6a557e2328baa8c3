/**
 * A receiver that cannot keep up, over datagram circuits: three senders, each
 * in its own isolated process, blast numbered datagrams at one UDP socket
 * whose program is not reading yet.  UDP may drop, and does (each sender's
 * ring fills), but what arrives must be every sender's datagrams intact, in
 * the order that sender sent them, none twice, each sender getting its share
 * (one ring per sender: a flood from one cannot crowd out the others), and
 * the drops must be counted where an operator looks: `switchboard circuits`
 * (per circuit: published + dropped = sent) and the Prometheus metrics.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';
import { somePort } from './netns.ts';

const PYTHON = tool('python3');
const SENDERS = 3;
const PER_SENDER = 3000;
const SIZE = 1000; // ~1,000 fit a 1 MiB ring (1,048 bytes a record): about two thirds are dropped

/* Waits until the file named by argv[2] exists (the test makes it once every sender finished), then drains without blocking. */
const RECEIVER = String.raw`
import hashlib, json, os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
print(json.dumps({'ready': s.getsockname()[1]}), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
s.setblocking(False)
seen = {}
while True:
    try:
        d, a = s.recvfrom(65535)
    except BlockingIOError:
        break
    key = '%s:%d' % a
    r = seen.setdefault(key, {'count': 0, 'last': -1, 'ordered': True, 'intact': True})
    head = d[:8]
    seq = int.from_bytes(head, 'big')
    if len(d) != ${SIZE} or d[8:16] != hashlib.sha256(head + b'x').digest()[:8] or d[16:] != bytes(${SIZE} - 16):
        r['intact'] = False
    if seq <= r['last']:
        r['ordered'] = False
    r['last'] = seq
    r['count'] += 1
print(json.dumps({'seen': seen}), flush=True)
`;

const SENDER = String.raw`
import hashlib, json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dest = ('127.0.0.1', int(sys.argv[1]))
for seq in range(${PER_SENDER}):
    head = seq.to_bytes(8, 'big')
    body = hashlib.sha256(head + b'x').digest()[:8]
    s.sendto(head + body + bytes(${SIZE} - 16), dest)
print(json.dumps({'me': '%s:%d' % s.getsockname()}), flush=True)
`;

test('a receiver that does not keep up: drops counted, each sender intact, in order, with its share', async (t) => {
  const op = await startOperator({ metrics: true });
  const port = somePort();
  const tmp = tempDir('sb-udp-drops-');
  const go = path.join(tmp.dir, 'go');
  const receiver = startIsolated(op, PYTHON, ['-c', RECEIVER, String(port), go]);
  try {
    await receiver.waitForLine(/"ready"/);
    const runs = await Promise.all(
      Array.from({ length: SENDERS }, () => runIsolated(op, PYTHON, ['-c', SENDER, String(port)], { timeoutMs: 60_000 })),
    );
    for (const r of runs) t.is(r.status, 0, describeResult(r));
    // An unconnected sender shows the wildcard; its datagrams come from loopback (as over the kernel).
    const senders = runs.map((r) => (JSON.parse(r.stdout.trim().split('\n').pop()!) as { me: string }).me.replace(/^0\.0\.0\.0:/, '127.0.0.1:'));

    // While the senders' circuits are still listed: published + dropped = sent, for each.
    const circuits = (await op.circuits()).filter((c) => c.type === 'dgram' && String((c.acceptor as { address: string }).address).endsWith(`:${port}`));
    t.is(circuits.length, SENDERS, JSON.stringify(circuits, null, 1));
    let droppedTotal = 0;
    for (const c of circuits) {
      const published = Number((c.datagrams as Record<string, string>).connector_to_acceptor);
      const dropped = Number((c.dropped as Record<string, string>).connector_to_acceptor);
      t.is(published + dropped, PER_SENDER, `circuit ${String(c.id)}: ${published} published + ${dropped} dropped`);
      t.true(dropped > 0, 'the ring filled: some datagrams were dropped');
      droppedTotal += dropped;
    }
    const metrics = await op.metrics();
    const m = /^switchboard_datagrams_dropped_total\{tenant="default"\} (\d+)/m.exec(metrics);
    t.truthy(m, `no switchboard_datagrams_dropped_total in:\n${metrics}`);
    t.true(Number(m?.[1]) >= droppedTotal, `metrics: ${m?.[1]} dropped, circuits: ${droppedTotal}`);

    fs.writeFileSync(go, '');
    const line = await receiver.waitForLine(/"seen"/, 30_000);
    const seen = (JSON.parse(line) as { seen: Record<string, { count: number; ordered: boolean; intact: boolean }> }).seen;
    t.deepEqual(Object.keys(seen).sort(), [...senders].sort(), 'datagrams came from exactly the three senders, with their addresses');
    const counts = circuits.map((c) => Number((c.datagrams as Record<string, string>).connector_to_acceptor));
    for (const who of senders) {
      const r = seen[who]!;
      t.true(r.ordered, `${who}: in the order sent, none twice`);
      t.true(r.intact, `${who}: every datagram intact`);
      t.true(r.count > PER_SENDER / 10, `${who} got its share: ${r.count} of ${PER_SENDER}`);
    }
    t.is(
      Object.values(seen).reduce((n, r) => n + r.count, 0),
      counts.reduce((a, b) => a + b, 0),
      'the receiver read exactly what the circuits published',
    );
  } finally {
    await receiver.stop();
    await op.stop();
    tmp.remove();
  }
});
