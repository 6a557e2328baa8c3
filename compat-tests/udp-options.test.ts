/**
 * What a UDP program asks of its sockets besides data, compared with the
 * kernel: one Python script makes a few sockets, exercises IP_PKTINFO and
 * IPV6_RECVPKTINFO (the destination address of each datagram, as BIND and
 * other wildcard-bound servers use it), FIONREAD (the size of the next
 * datagram), SO_RCVBUF (Linux doubles it), MSG_PEEK and MSG_TRUNC on a
 * wildcard-bound and a dual-stack socket, and prints what it saw.  It runs
 * once isolated over circuits (the operator must grant datagram circuits) and
 * once without the shim in a namespace with loopback up; the outputs must be
 * equal.  And a bound datagram socket handed to a new program image across
 * exec keeps working (the shim's exec inheritance).
 */
import test from 'ava';
import { describeResult, runIsolated, startIsolated, startOperator, tool } from './harness.ts';
import { inKernelNamespace } from './netns.ts';

const PYTHON = tool('python3');
const IP_PKTINFO = 8; // Python's socket module lacks the constant

const SCRIPT = String.raw`
import fcntl, json, socket, struct, termios
out = {}
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(('0.0.0.0', 0))
port = r.getsockname()[1]
r.setsockopt(socket.IPPROTO_IP, ${IP_PKTINFO}, 1)
out['pktinfo_opt'] = r.getsockopt(socket.IPPROTO_IP, ${IP_PKTINFO})
r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 100000)
out['rcvbuf'] = r.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
out['type'] = r.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
out['protocol'] = r.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'a' * 100, ('127.0.0.1', port))
s.sendto(b'b' * 200, ('127.0.0.1', port))
out['fionread'] = struct.unpack('i', fcntl.ioctl(r, termios.FIONREAD, b'\0' * 4))[0]
d, anc, flags, src = r.recvmsg(50, 256, socket.MSG_PEEK)
out['peek'] = [len(d), flags & socket.MSG_TRUNC != 0, src[0]]
d, anc, flags, src = r.recvmsg(4096, 256)
out['first'] = [len(d), d[:1].decode(), src[0], src[1] == s.getsockname()[1]]
pk = [(lvl, typ, len(data)) for lvl, typ, data in anc]
out['anc'] = pk
for lvl, typ, data in anc:
    if lvl == socket.IPPROTO_IP and typ == ${IP_PKTINFO}:
        ifindex, spec, addr = struct.unpack('i4s4s', data[:12])
        out['pktinfo'] = [ifindex, socket.inet_ntoa(spec), socket.inet_ntoa(addr)]
n = r.recv_into(bytearray(10), 0, socket.MSG_TRUNC)
out['trunc'] = n
out['fionread_after'] = struct.unpack('i', fcntl.ioctl(r, termios.FIONREAD, b'\0' * 4))[0]

r6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
r6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
r6.bind(('::', 0))
r6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
p6 = r6.getsockname()[1]
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.sendto(b'six', ('::1', p6))
d, anc, flags, src = r6.recvmsg(100, 256)
out['v6'] = [d.decode(), src[0]]
for lvl, typ, data in anc:
    if lvl == socket.IPPROTO_IPV6 and typ == socket.IPV6_PKTINFO:
        addr, ifindex = struct.unpack('16sI', data[:20])
        out['v6pktinfo'] = [socket.inet_ntop(socket.AF_INET6, addr), ifindex]
s.sendto(b'four', ('127.0.0.1', p6))
d, anc, flags, src = r6.recvmsg(100, 256)
out['mapped'] = [d.decode(), src[0], [(lvl, typ) for lvl, typ, _ in anc]]
print(json.dumps(out, sort_keys=True))
`;

/** The kernel's answer: the same script in a fresh namespace with loopback up, no shim. */
async function kernel(): Promise<string> {
  const r = await inKernelNamespace('exec "$PY" -c "$SCRIPT"', { PY: PYTHON, SCRIPT });
  if (r.status !== 0) throw new Error(`the script failed over the kernel (exit ${r.status}):\n${r.stderr}`);
  return r.stdout.trim();
}

test('IP_PKTINFO, IPV6_RECVPKTINFO, FIONREAD, SO_RCVBUF, MSG_PEEK and MSG_TRUNC over circuits answer as the kernel does', async (t) => {
  const expected = await kernel();
  const op = await startOperator();
  try {
    const before = await op.tenant();
    const r = await runIsolated(op, PYTHON, ['-c', SCRIPT]);
    t.is(r.status, 0, describeResult(r));
    const after = await op.tenant();
    t.true(after.connects_granted - before.connects_granted >= 3, 'the datagrams went over circuits the operator granted');
    const got = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    const want = JSON.parse(expected) as Record<string, unknown>;
    t.deepEqual(got, want);
    // And the kernel's answers are the ones a reader of ip(7) expects.
    t.deepEqual(want.pktinfo, [1, '127.0.0.1', '127.0.0.1']);
    t.is(want.fionread, 100);
  } finally {
    await op.stop();
  }
});

/* Binds, then execs a new program image that echoes on the inherited socket (the inetd `wait` pattern). */
const EXEC_SERVER = String.raw`
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
s.set_inheritable(True)
os.execv(sys.executable, [sys.executable, '-c', '''
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
assert s.type == socket.SOCK_DGRAM, s.type
print("exec'd", s.getsockname()[1], flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d.upper(), a)
''', str(s.fileno())])
`;

const EXEC_CLIENT = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for word in [b'one', b'two', b'three']:
    s.sendto(word, ('127.0.0.1', int(sys.argv[1])))
    d, a = s.recvfrom(100)
    print(d.decode(), a[1])
`;

test('a datagram socket survives exec: the new image claims it and keeps receiving', async (t) => {
  const op = await startOperator();
  const server = startIsolated(op, PYTHON, ['-c', EXEC_SERVER]);
  try {
    const port = Number((await server.waitForLine(/^\d+$/)).trim());
    const line = await server.waitForLine(/^exec'd/);
    t.is(line, `exec'd ${port}`, 'the new image sees the same bound socket');
    const r = await runIsolated(op, PYTHON, ['-c', EXEC_CLIENT, String(port)]);
    t.is(r.status, 0, describeResult(r));
    t.deepEqual(r.stdout.trim().split('\n'), ['ONE', 'TWO', 'THREE'].map((w) => `${w} ${port}`));
    t.true((await op.tenant()).connects_granted >= 1, 'over a circuit');
  } finally {
    await server.stop();
    await op.stop();
  }
});

/* The policy is checked at a flow's first datagram: allowed to db's port 53, not to its port 54. */
const POLICY = `version: 1
tenants:
  - name: web
    addresses: [10.0.0.2]
  - name: db
    addresses: [10.0.0.3]
listen:
  - { tenant: db, ports: any, type: dgram }
connect:
  - name: web-to-dns
    from: web
    to: { tenant: db, ports: 53, type: dgram }
    action: allow
defaults:
  connect: deny
`;

const ECHO_ON = String.raw`
import socket, sys
socks = []
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('10.0.0.3', int(p)))
    socks.append(s)
print('ready', flush=True)
import select
while True:
    for s in select.select(socks, [], [])[0]:
        d, a = s.recvfrom(100)
        s.sendto(d, a)
`;

const POLICY_CLIENT = String.raw`
import json, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
out = {}
s.sendto(b'allowed', ('10.0.0.3', 53))
out['53'] = s.recvfrom(100)[0].decode()
try:
    s.sendto(b'denied', ('10.0.0.3', 54))
    out['54'] = 'sent'
except OSError as e:
    out['54'] = e.errno
print(json.dumps(out))
`;

test('the policy decides at a flow\'s first datagram: an allowed port answers, a denied one fails with EPERM and an audit line', async (t) => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { tempDir } = await import('./harness.ts');
  const tmp = tempDir('sb-udp-policy-');
  const policy = path.join(tmp.dir, 'policy.yaml');
  fs.writeFileSync(policy, POLICY);
  const op = await startOperator({ policy });
  const server = startIsolated(op, PYTHON, ['-c', ECHO_ON, '53', '54'], { tenant: 'db' });
  try {
    await server.waitForLine(/^ready$/);
    const r = await runIsolated(op, PYTHON, ['-c', POLICY_CLIENT], { tenant: 'web' });
    t.is(r.status, 0, describeResult(r));
    t.deepEqual(JSON.parse(r.stdout.trim()), { 53: 'allowed', 54: 1 /* EPERM */ });
    t.is((await op.tenant('web')).connects_denied, 1);
    t.regex(op.log(), /"event":"deny\.connect".*10\.0\.0\.3:54/);
  } finally {
    await server.stop();
    await op.stop();
    tmp.remove();
  }
});
