/** The policy format: schema errors name the line and the rule; decisions follow the rules. */
import test from 'ava';
import { decideConnect, listenRuleFor } from '../src/policy/evaluate.ts';
import { defaultPolicy, parsePolicy } from '../src/policy/load.ts';
import { PolicyError } from '../src/policy/types.ts';
import type { InetAddress } from '../src/net/address.ts';

const owner = { uid: 1000, gid: 1000 };
const v4 = (address: string, port: number): InetAddress => ({ family: 'inet', address, port });

const GOOD = `version: 1
tenants:
  - name: web
    addresses: [10.1.0.2]
  - name: db
    uid: 2000
    mode: "0660"
    addresses: [10.1.0.3, "fd00::3"]
listen:
  - tenant: web
    ports: [80, "8000-8099"]
  - tenant: db
    ports: 5432
    address: 10.1.0.3
connect:
  - name: web-to-db
    from: web
    to: { tenant: db, ports: 5432 }
    action: allow
  - name: nothing-else-to-db
    from: "*"
    to: { tenant: db }
    action: deny
    errno: ECONNREFUSED
  - name: lan
    from: "*"
    to: { external: true, address: 192.168.0.0/16 }
    action: allow
publish:
  - host_port: 8080
    tenant: web
    port: 80
`;

function problems(text: string): string[] {
  try {
    parsePolicy(text, 'p.yaml', owner);
  } catch (e) {
    if (e instanceof PolicyError) return e.problems.map((p) => `${p.line}|${p.rule}|${p.message}`);
    throw e;
  }
  return [];
}

test('a valid policy loads with defaults filled in', (t) => {
  const p = parsePolicy(GOOD, 'p.yaml', owner);
  t.deepEqual([...p.tenants.keys()], ['web', 'db']);
  t.is(p.tenants.get('web')!.uid, 1000);
  t.is(p.tenants.get('web')!.mode, 0o600);
  t.is(p.tenants.get('db')!.uid, 2000);
  t.is(p.tenants.get('db')!.gid, 2000);
  t.is(p.tenants.get('db')!.mode, 0o660);
  t.is(p.connect.length, 3);
  t.is(p.connect[1]!.errno, 'ECONNREFUSED');
  t.is(p.connect[0]!.errno, 'EPERM');
  t.is(p.publish[0]!.hostAddress, '127.0.0.1');
  t.is(p.defaults.connect, 'deny');
});

test('schema errors name the line, the rule and the field', (t) => {
  const bad = GOOD.replace('    action: deny\n', '    action: maybe\n').replace('    ports: 5432\n    address', '    ports: 5432\n    colour: red\n    address');
  const got = problems(bad);
  t.true(got.includes('14|listen rule #2|colour: unknown key "colour"'), got.join('\n'));
  t.true(got.includes('24|connect rule #2 "nothing-else-to-db"|action: must be allow or deny'), got.join('\n'));
});

test('a missing required key names the rule', (t) => {
  const got = problems('version: 1\nconnect:\n  - from: a\n    action: allow\n');
  t.deepEqual(got, ['3|connect rule #1|missing "to"']);
});

test('references to unknown tenants, bad addresses and ranges are reported with their lines', (t) => {
  const got = problems(`version: 1
tenants:
  - name: web
    addresses: [10.0.0.300]
listen:
  - tenant: wbe
    ports: "90-80"
connect:
  - name: typo
    from: web
    to: { tenant: dbb, address: 10.0.0.0/33 }
    action: allow
`);
  t.deepEqual(got, [
    '4|tenant #1 "web"|addresses[0]: "10.0.0.300" is not a single IP address',
    '6|listen rule #1|tenant: no tenant "wbe" (tenants: web)',
    '7|listen rule #1|ports: "90-80" is not a port range within 1..65535',
    '11|connect rule #1 "typo"|to.tenant: no tenant "dbb" (tenants: web)',
    '11|connect rule #1 "typo"|to.address: "10.0.0.0/33" is not an IP address or CIDR range',
  ]);
});

test('YAML syntax errors and duplicate keys carry their line', (t) => {
  t.deepEqual(problems('version: 1\ntenants:\n  - name: a\n    name: b\n').length, 1);
  t.regex(problems('version: 1\ntenants:\n  - name: a\n    name: b\n')[0]!, /^4\|YAML\|/);
  t.regex(problems('version: 1\nlisten: [\n')[0]!, /^\d\|YAML\|/);
  t.deepEqual(problems('version: 2\n'), ['1|version|must be the policy format version, 1']);
});

test('connect decisions: first matching rule, then the default; EPERM unless the rule says otherwise', (t) => {
  const p = parsePolicy(GOOD, 'p.yaml', owner);
  const allow = decideConnect(p, { from: 'web', toTenant: 'db', destination: v4('10.1.0.3', 5432), type: 'stream' });
  t.true(allow.allow);
  t.regex(allow.rule, /connect rule #1 "web-to-db" \(line 16\)/);
  const deny = decideConnect(p, { from: 'web', toTenant: 'db', destination: v4('10.1.0.3', 22), type: 'stream' });
  t.false(deny.allow);
  t.is(deny.errno, 'ECONNREFUSED');
  const lan = decideConnect(p, { from: 'db', toTenant: null, destination: v4('192.168.1.9', 443), type: 'stream' });
  t.true(lan.allow);
  const fallback = decideConnect(p, { from: 'db', toTenant: 'web', destination: v4('10.1.0.2', 80), type: 'stream' });
  t.deepEqual(fallback, { allow: false, rule: 'defaults.connect', errno: 'EPERM' });
  const outside = decideConnect(p, { from: 'db', toTenant: null, destination: v4('8.8.8.8', 53), type: 'dgram' });
  t.false(outside.allow);
});

test('listen rules: port sets, addresses, wildcards', (t) => {
  const p = parsePolicy(GOOD, 'p.yaml', owner);
  t.truthy(listenRuleFor(p, 'web', v4('0.0.0.0', 8050), 'stream'));
  t.is(listenRuleFor(p, 'web', v4('0.0.0.0', 8100), 'stream'), null);
  t.truthy(listenRuleFor(p, 'db', v4('10.1.0.3', 5432), 'stream'));
  t.is(listenRuleFor(p, 'db', v4('0.0.0.0', 5432), 'stream'), null, 'a rule with an address does not permit the wildcard');
});

test('the embedded default lets every tenant of the user listen and talk', (t) => {
  const p = defaultPolicy(owner);
  t.true(p.tenantsOnDemand);
  t.is(p.tenants.get('default')!.uid, 1000);
  t.truthy(listenRuleFor(p, 'anyone', v4('127.0.0.1', 80), 'stream'));
  t.true(decideConnect(p, { from: 'a', toTenant: 'b', destination: v4('127.0.0.1', 80), type: 'stream' }).allow);
  t.true(decideConnect(p, { from: 'a', toTenant: null, destination: v4('1.2.3.4', 80), type: 'stream' }).allow);
});
