/**
 * Tenants and policy in a real operator: who reaches which socket, who may
 * listen where, who may connect to whom, the audit trail, and reloads.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { decode, encode } from '../../build/gen/ts/protocol.ts';
import { E } from '../src/errno.ts';
import { native } from '../src/native.ts';
import { accept, closeAll, errnum, inet, TestClient } from './helpers/client.ts';
import { CLI, eventually, OperatorProcess } from './helpers/operator-process.ts';

const test = anyTest as TestFn<{ op: OperatorProcess }>;
const HELPERS = path.join(import.meta.dirname, 'helpers');
const NOBODY = 65534;

const POLICY = `version: 1
tenants:
  - name: web
    addresses: [10.9.0.2]
  - name: db
    addresses: [10.9.0.3]
  - name: guest
    uid: ${NOBODY}
listen:
  - tenant: db
    ports: 5432
  - tenant: web
    ports: [80, 8080]
  - tenant: guest
    ports: any
connect:
  - name: web-to-db
    from: web
    to: { tenant: db, ports: 5432 }
    action: allow
  - name: own
    from: "*"
    to: { tenant: self }
    action: allow
  - name: guests-rejected
    from: guest
    to: { tenant: "*" }
    action: deny
    errno: ECONNREFUSED
  - name: outside
    from: "*"
    to: { external: true }
    action: allow
`;

test.before(async (t) => {
  t.context.op = await OperatorProcess.start({ policy: POLICY, tenants: ['web', 'db', 'guest'] });
  fs.chmodSync(t.context.op.dir, 0o755); // mkdtemp made it 0700; tenants of other users must reach their sockets
});
test.after.always(async (t) => {
  await t.context.op?.dispose();
});

test.serial('a connect the policy allows crosses tenants; addresses are the tenants\' own', (t) => {
  const db = new TestClient(t.context.op.socket('db'));
  const web = new TestClient(t.context.op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5432));
  const g = web.connect(inet('10.9.0.3', 5432));
  t.like(g.msg, { type: 'connect_granted', peer: { address: '10.9.0.3', port: 5432 }, local: { address: '10.9.0.2' } });
  const a = accept(l.port);
  t.like(a.msg, { type: 'incoming', local: { address: '10.9.0.3', port: 5432 }, peer: { address: '10.9.0.2' } });
  closeAll([...g.fds, ...a.fds, l.port]);
  db.close();
  web.close();
});

test.serial('a denied connect fails with EPERM (or the rule\'s errno) and writes an audit line', async (t) => {
  const web = new TestClient(t.context.op.socket('web'));
  const db = new TestClient(t.context.op.socket('db'));
  const guest = new TestClient(t.context.op.socket('guest'));
  const l = web.listen(inet('0.0.0.0', 80));
  const denied = db.connect(inet('10.9.0.2', 80));
  t.is(errnum(denied), E.EPERM);
  t.regex((denied.msg as { message: string }).message, /policy: defaults\.connect denies db -> 10\.9\.0\.2:80/);
  t.is(errnum(guest.connect(inet('10.9.0.2', 80))), E.ECONNREFUSED, 'the rule chose ECONNREFUSED');
  t.true(
    await eventually(() =>
      t.context.op.events().some((e) => e.level === 'audit' && e.event === 'deny.connect' && e.tenant === 'db' && e.destination === '10.9.0.2:80' && e.rule === 'defaults.connect' && e.errno === E.EPERM && e.pid === process.pid),
    ),
  );
  const audit = t.context.op.events().find((e) => e.event === 'deny.connect' && e.tenant === 'guest');
  t.regex(String(audit?.rule), /connect rule #3 "guests-rejected" \(line 25\)/);
  const s = db.request({ type: 'stats_query' });
  t.like(s.msg, { type: 'stats_reply', connectsDenied: 1n });
  closeAll([l.port]);
  for (const c of [web, db, guest]) c.close();
});

test.serial('loopback is the tenant\'s own; destinations off the circuit network need the proxy stack', (t) => {
  const db = new TestClient(t.context.op.socket('db'));
  const web = new TestClient(t.context.op.socket('web'));
  const l = db.listen(inet('0.0.0.0', 5432), 16, ['reuse_addr']);
  t.is(errnum(web.connect(inet('127.0.0.1', 5432))), E.ECONNREFUSED, 'web\'s loopback is not db\'s');
  t.is(errnum(web.connect(inet('203.0.113.9', 443))), E.ENETUNREACH);
  closeAll([l.port]);
  db.close();
  web.close();
});

test.serial('listening where no listen rule permits it: EACCES', (t) => {
  const web = new TestClient(t.context.op.socket('web'));
  t.is(errnum(web.bind(inet('0.0.0.0', 5432))), E.EACCES);
  const eph = web.bind(inet('0.0.0.0', 0));
  t.is(eph.msg.type, 'bind_reply', 'an ephemeral port is always fine to bind');
  if (eph.msg.type === 'bind_reply') t.is(errnum(web.request({ type: 'listen', reservation: eph.msg.reservation, backlog: 1 } as never)), E.EACCES);
  t.is(errnum(web.bind(inet('10.9.0.3', 80))), E.EADDRNOTAVAIL, 'db\'s address is not web\'s');
  closeAll(eph.fds);
  web.close();
});

test.serial('tenant sockets belong to their users: another user cannot reach them', (t) => {
  const hello = encode({ type: 'hello', requestId: 1, pid: 0, capabilities: [], shimVersion: 'py', program: 'nobody' }).toString('hex');
  const asNobody = (tenant: string) =>
    spawnSync('python3', [path.join(HELPERS, 'hello_as.py'), t.context.op.socket(tenant), hello], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' }).stdout.trim();
  t.is(asNobody('web'), 'errno EACCES');
  const reply = decode(Buffer.from(asNobody('guest'), 'hex'), 'operator-to-shim');
  t.like(reply, { type: 'hello_reply', tenant: 'guest' });
  const st = fs.statSync(t.context.op.socket('guest'));
  t.is(st.uid, NOBODY);
  t.is(st.mode & 0o777, 0o600);
  t.is(fs.statSync(path.dirname(t.context.op.socket('web'))).mode & 0o777, 0o700);
  t.true(t.context.op.events().some((e) => e.event === 'session.open' && e.tenant === 'guest' && e.uid === NOBODY));
});

test.serial('SIGHUP reloads the policy for new decisions and leaves circuits alone; a broken policy is refused', async (t) => {
  const { op } = t.context;
  const web = new TestClient(op.socket('web'));
  const db = new TestClient(op.socket('db'));
  const l = web.listen(inet('0.0.0.0', 8080));
  const own = web.connect(inet('127.0.0.1', 8080));
  const a = accept(l.port);
  t.is(errnum(db.connect(inet('10.9.0.2', 8080))), E.EPERM);

  fs.writeFileSync(op.policyFile!, POLICY.replace('  - name: own\n', '  - name: db-to-web\n    from: db\n    to: { tenant: web }\n    action: allow\n  - name: own\n'));
  process.kill(op.pid, 'SIGHUP');
  t.true(await eventually(() => op.events().some((e) => e.event === 'policy.reload')));
  const g = db.connect(inet('10.9.0.2', 8080));
  t.is(g.msg.type, 'connect_granted');
  t.is(native.writeBytes(own.fds[1]!, Buffer.from('still')), 5);
  t.deepEqual(native.readBytes(a.fds[1]!, 5), Buffer.from('still'), 'the circuit from before the reload works');

  fs.writeFileSync(op.policyFile!, 'version: 1\nconnect:\n  - from: web\n    action: allow\n');
  const answer = await op.admin({ cmd: 'reload' });
  t.false(answer.ok);
  t.regex((answer as { error: string }).error, /:3: connect rule #1: missing "to"/);
  t.is(db.connect(inet('10.9.0.2', 8080)).msg.type, 'connect_granted', 'the previous policy stays in force');
  closeAll([...own.fds, ...a.fds, ...g.fds, l.port]);
  web.close();
  db.close();
});

test('a broken policy file stops the operator at start with the line and the rule', (t) => {
  const file = path.join(path.dirname(t.context.op.dir), `${path.basename(t.context.op.dir)}-broken.yaml`);
  fs.writeFileSync(file, 'version: 1\nlisten:\n  - tenant: a\n    ports: 99999\n');
  const r = spawnSync(process.execPath, [CLI, 'operator', '--runtime-dir', `${t.context.op.dir}-broken`, '--policy', file], { encoding: 'utf8' });
  fs.rmSync(`${t.context.op.dir}-broken`, { recursive: true, force: true });
  t.is(r.status, 1);
  t.regex(r.stderr, /broken\.yaml:4: listen rule #1: ports: must be a port, a range "LO-HI", "any", or a list of ports and ranges/);
  fs.writeFileSync(file, POLICY);
  const check = spawnSync(process.execPath, [CLI, 'policy', 'check', file], { encoding: 'utf8' });
  fs.rmSync(file);
  t.is(check.status, 0);
  t.regex(check.stdout, /ok \(3 tenants/);
});
