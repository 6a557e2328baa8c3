/**
 * BIND 9's named, authoritative for a small zone, with dig over UDP and TCP
 * and dnsperf over UDP, each in its own network namespace with no interface
 * up: every query and answer goes over circuits granted by a real operator.
 *
 * named listens only on addresses its interface scan (getifaddrs) finds, and
 * an isolated namespace has just a loopback that is down with no address:
 * the shim shows it the circuit network's loopback (shim/src/ifaddrs.c), and
 * named must say it listens on lo, 127.0.0.1#PORT.  One TXT record is too
 * big for a UDP answer (EDNS 1232 bytes): named truncates it and dig retries
 * over TCP, as it would on the kernel.
 *
 * The same named and the same queries run without the shim in one namespace
 * with loopback up (the kernel's column, one test): every expectation here is
 * what they do on Linux, checked on every run.
 *
 * Serial: the tests compare the operator's counters before and after.
 */
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, childrenOf, describeResult, type Operator, type Result, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';
import { checkIsolated, describeBare, inKernelNamespace, runBare, somePort } from './netns.ts';

const NAMED = tool('named');
const DIG = tool('dig');
const DNSPERF = tool('dnsperf');

const ZONE = 'example.test';
/** 20 character-strings of 200 characters: about 4 KB of answer, far above EDNS's 1232 bytes over UDP. */
const BIG = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${crypto.randomBytes(99).toString('hex')}`);

function zoneFile(): string {
  return [
    '$TTL 300',
    `@       IN SOA  ns1.${ZONE}. hostmaster.${ZONE}. ( 2024010101 3600 600 86400 300 )`,
    `        IN NS   ns1.${ZONE}.`,
    'ns1     IN A    127.0.0.1',
    'www     IN A    192.0.2.10',
    'www     IN AAAA 2001:db8::10',
    'hello   IN TXT  "hello over a circuit"',
    `big     IN TXT  ${BIG.map((s) => `"${s}"`).join(' ')}`,
    '',
  ].join('\n');
}

/**
 * Authoritative only, on 127.0.0.1 at `port`, nothing that reaches out: no
 * recursion, no DNSSEC validation (no trust anchors to fetch), no NOTIFYs, no
 * rndc control channel (it would listen on 127.0.0.1#953 and want a key).
 */
function namedConf(dir: string, port: number): string {
  return `options {
  directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify no;
  pid-file none;
  session-keyfile none;
  managed-keys-directory "${dir}";
};
controls { };
zone "${ZONE}" { type primary; file "${path.join(dir, 'zone.db')}"; };
`;
}

/** named in the foreground (-g: log to stderr, stay root), one worker thread. */
const namedArgs = (dir: string) => ['-g', '-c', path.join(dir, 'named.conf'), '-n', '1'];

/** What one dig printed: status, flags, the answer section's records and the transport of the last reply. */
interface Dig {
  readonly status: string | undefined;
  readonly flags: string[];
  readonly answers: string[][];
  readonly transport: string | undefined;
  readonly retriedOverTcp: boolean;
  readonly text: string;
}

function parseDig(text: string): Dig {
  const headers = [...text.matchAll(/status: (\w+)/g)];
  const flags = [...text.matchAll(/;; flags: ([\w ]*);/g)];
  const answers: string[][] = [];
  let inAnswer = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(';; ANSWER SECTION:')) inAnswer = true;
    else if (line.trim() === '' || line.startsWith(';')) inAnswer = false;
    else if (inAnswer) answers.push(line.split(/\s+/));
  }
  return {
    status: headers.at(-1)?.[1],
    flags: flags.at(-1)?.[1]!.trim().split(' ') ?? [],
    answers,
    transport: /;; SERVER: [^\n]*\((UDP|TCP)\)/.exec(text)?.[1],
    retriedOverTcp: text.includes(';; Truncated, retrying in TCP mode.'),
    text,
  };
}

/** The character-strings of a TXT record as dig prints them ("a" "b" …). */
const txtStrings = (record: string[]) => record.slice(4).map((s) => s.replace(/^"|"$/g, ''));

/** One dig: its arguments after `@127.0.0.1 -p PORT`, and what the answer must be. */
interface Query {
  readonly name: string;
  readonly args: readonly string[];
  readonly check: (t: ExecutionContext<unknown>, d: Dig) => void;
}

const answerOf = (d: Dig, type: string) => d.answers.filter((a) => a[3] === type);

const QUERIES: Query[] = [
  {
    name: 'A over UDP',
    args: [`www.${ZONE}`, 'A'],
    check: (t, d) => {
      t.is(d.status, 'NOERROR', d.text);
      t.is(d.transport, 'UDP', d.text);
      t.true(d.flags.includes('aa'), `authoritative: ${d.flags}`);
      t.deepEqual(answerOf(d, 'A').map((a) => a[4]), ['192.0.2.10'], d.text);
    },
  },
  {
    name: 'AAAA over UDP',
    args: [`www.${ZONE}`, 'AAAA'],
    check: (t, d) => {
      t.is(d.transport, 'UDP', d.text);
      t.deepEqual(answerOf(d, 'AAAA').map((a) => a[4]), ['2001:db8::10'], d.text);
    },
  },
  {
    name: 'TXT over UDP',
    args: [`hello.${ZONE}`, 'TXT'],
    check: (t, d) => {
      t.is(d.transport, 'UDP', d.text);
      t.deepEqual(answerOf(d, 'TXT').map((a) => a.slice(4).join(' ')), ['"hello over a circuit"'], d.text);
    },
  },
  {
    name: 'SOA and NS over TCP (+tcp)',
    args: ['+tcp', ZONE, 'SOA'],
    check: (t, d) => {
      t.is(d.transport, 'TCP', d.text);
      t.is(answerOf(d, 'SOA')[0]?.[4], `ns1.${ZONE}.`, d.text);
    },
  },
  {
    name: 'A over TCP (+tcp)',
    args: ['+tcp', `www.${ZONE}`, 'A'],
    check: (t, d) => {
      t.is(d.transport, 'TCP', d.text);
      t.deepEqual(answerOf(d, 'A').map((a) => a[4]), ['192.0.2.10'], d.text);
    },
  },
  {
    name: 'a 4 KB TXT: truncated over UDP (TC), answered in full after dig retries over TCP',
    args: [`big.${ZONE}`, 'TXT'],
    check: (t, d) => {
      t.true(d.retriedOverTcp, d.text);
      t.is(d.transport, 'TCP', d.text);
      const txt = answerOf(d, 'TXT');
      t.is(txt.length, 1, d.text);
      t.deepEqual(txt[0] ? txtStrings(txt[0]) : [], BIG);
    },
  },
  {
    name: 'the truncated UDP answer itself (+ignore): TC set, no records',
    args: ['+ignore', `big.${ZONE}`, 'TXT'],
    check: (t, d) => {
      t.is(d.transport, 'UDP', d.text);
      t.true(d.flags.includes('tc'), `flags: ${d.flags}`);
      t.deepEqual(d.answers, []);
    },
  },
  {
    name: 'a name that does not exist: NXDOMAIN',
    args: [`nope.${ZONE}`, 'A'],
    check: (t, d) => {
      t.is(d.status, 'NXDOMAIN', d.text);
      t.is(d.transport, 'UDP', d.text);
    },
  },
  {
    name: 'a zone it does not serve: REFUSED (no recursion)',
    args: ['example.com', 'A'],
    check: (t, d) => t.is(d.status, 'REFUSED', d.text),
  },
];

/** One try, a few seconds: a lost datagram is a failure here, not something to retry. */
const digArgs = (port: number, q: Query) => [`@127.0.0.1`, '-p', String(port), '+tries=1', '+time=2', ...q.args];

const DNSPERF_QUERIES = [`www.${ZONE} A`, `www.${ZONE} AAAA`, `hello.${ZONE} TXT`, `${ZONE} SOA`, `nope.${ZONE} A`];
const DNSPERF_RUNS = 200; // 1,000 queries
const dnsperfArgs = (port: number, file: string) => ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-n', String(DNSPERF_RUNS), '-l', '10'];

/** dnsperf's statistics: everything answered, nothing lost. */
function checkDnsperf(t: ExecutionContext<unknown>, text: string) {
  const n = (re: RegExp) => Number(re.exec(text)?.[1]);
  const total = DNSPERF_QUERIES.length * DNSPERF_RUNS;
  t.is(n(/Queries sent:\s+(\d+)/), total, text);
  t.is(n(/Queries completed:\s+(\d+)/), total, text);
  t.is(n(/Queries lost:\s+(\d+)/), 0, text);
  // One name of the five does not exist.
  const nx = DNSPERF_RUNS;
  t.regex(text, new RegExp(`Response codes:\\s+NOERROR ${total - nx} \\(80\\.00%\\), NXDOMAIN ${nx} \\(20\\.00%\\)`), text);
}

interface Ctx {
  op: Operator;
  named: Background;
  port: number;
  dir: string;
  /** Why named over circuits did not come up, if it did not. */
  namedFailed?: Error;
  cleanup: () => void;
}
const test = anyTest as TestFn<Ctx>;

function writeConfig(dir: string, port: number) {
  fs.writeFileSync(path.join(dir, 'zone.db'), zoneFile());
  fs.writeFileSync(path.join(dir, 'named.conf'), namedConf(dir, port));
  fs.writeFileSync(path.join(dir, 'queries.txt'), `${DNSPERF_QUERIES.join('\n')}\n`);
}

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-bind9-');
  const port = somePort();
  writeConfig(dir, port);
  const op = await startOperator();
  const named = startIsolated(op, NAMED, namedArgs(dir));
  t.context = { op, named, port, dir, cleanup: remove };
  try {
    await named.waitForLine(/ running$/);
  } catch (e) {
    t.context.namedFailed = e as Error; // each test over circuits fails with it; the kernel's column runs all the same
  }
});

test.after.always(async (t) => {
  await t.context.named?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

const namedLog = (t: ExecutionContext<Ctx>) => t.context.named.output().stderr;

async function dig(t: ExecutionContext<Ctx>, q: Query): Promise<Result> {
  if (t.context.namedFailed) throw t.context.namedFailed;
  return runIsolated(t.context.op, DIG, digArgs(t.context.port, q), { timeoutMs: 20_000 });
}

test.serial('named found the circuit network\'s loopback and listens on it', (t) => {
  if (t.context.namedFailed) throw t.context.namedFailed;
  t.regex(namedLog(t), new RegExp(`listening on IPv4 interface lo, 127\\.0\\.0\\.1#${t.context.port}\\n`), namedLog(t));
  t.regex(namedLog(t), /zone example\.test\/IN: loaded serial 2024010101/);
});

for (const q of QUERIES) {
  test.serial(`over circuits, dig: ${q.name}`, async (t) => {
    const before = await t.context.op.tenant();
    const r = await dig(t, q);
    t.is(r.status, 0, `${describeResult(r)}\n--- named\n${namedLog(t).slice(-3000)}`);
    q.check(t, parseDig(r.stdout));
    const after = await t.context.op.tenant();
    // A UDP exchange is a datagram circuit, a TCP connection a stream circuit; the retry takes both.
    t.true(after.circuits_total > before.circuits_total, `circuits_total ${before.circuits_total} → ${after.circuits_total}`);
  });
}

test.serial('over circuits: dnsperf sends 1,000 queries over UDP, all answered, none lost', async (t) => {
  if (t.context.namedFailed) throw t.context.namedFailed;
  const before = await t.context.op.tenant();
  const r = await runIsolated(t.context.op, DNSPERF, dnsperfArgs(t.context.port, path.join(t.context.dir, 'queries.txt')), { timeoutMs: 40_000 });
  t.is(r.status, 0, describeResult(r));
  t.log(/Queries per second:.*/.exec(r.stdout)?.[0] ?? r.stdout);
  checkDnsperf(t, r.stdout);
  const after = await t.context.op.tenant();
  t.true(after.circuits_total > before.circuits_total, `circuits_total ${before.circuits_total} → ${after.circuits_total}`);
  const dgram = ((await t.context.op.circuits()) as Array<Record<string, any>>).filter(
    (c) => c.type === 'dgram' && [c.connector.address, c.acceptor.address].includes(`127.0.0.1:${t.context.port}`),
  );
  t.log(`${dgram.length} datagram circuits with named's 127.0.0.1:${t.context.port} listed after the run`);
});

test.serial('named is isolated (only lo, down); dig without the shim cannot reach it', async (t) => {
  if (t.context.namedFailed) throw t.context.namedFailed;
  const { op, named, port } = t.context;
  // The launcher's child: unshare, which exec'd named.
  const pid = childrenOf(named.child.pid!)[0]!;
  t.regex(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), /^named/);
  checkIsolated(t, pid);

  const before = await op.tenant();
  for (const q of [QUERIES[0]!, QUERIES[4]!]) {
    const bare = await runBare(DIG, digArgs(port, q));
    t.is(bare.status, 9, describeBare(bare)); // dig: no reply from the server
    t.regex(bare.stdout + bare.stderr, /network unreachable/, describeBare(bare));
  }
  t.is((await op.tenant()).circuits_total, before.circuits_total, 'no circuit was granted to it');
});

// ---------------------------------------------------------------- the kernel's column


test('the kernel gives the same answers (named, dig and dnsperf in one namespace with loopback up, no shim)', async (t) => {
  const { dir, remove } = tempDir('sb-e2e-bind9-kernel-');
  try {
    const port = somePort();
    writeConfig(dir, port);
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const r = await inKernelNamespace(
      [
        `"$NAMED" ${namedArgs(dir).map(quote).join(' ')} 2> "$DIR/named.log" & NAMED_PID=$!`,
        'until grep -q " running$" "$DIR/named.log"; do kill -0 $NAMED_PID || exit 98; sleep 0.05; done',
        ...QUERIES.map((q, i) => `echo "@@${i}"; "$DIG" ${digArgs(port, q).map(quote).join(' ')}`),
        `echo "@@dnsperf"; "$DNSPERF" ${dnsperfArgs(port, path.join(dir, 'queries.txt')).map(quote).join(' ')}`,
        'kill $NAMED_PID; wait',
      ].join('\n'),
      { NAMED, DIG, DNSPERF, DIR: dir },
    );
    const log = fs.existsSync(path.join(dir, 'named.log')) ? fs.readFileSync(path.join(dir, 'named.log'), 'utf8') : '';
    t.is(r.status, 0, `${r.stderr}\n--- named\n${log}`);
    t.regex(log, new RegExp(`listening on IPv4 interface lo, 127\\.0\\.0\\.1#${port}\\n`));
    const sections = new Map(r.stdout.split(/^@@/m).filter(Boolean).map((s) => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)]));
    for (const [i, q] of QUERIES.entries()) q.check(t, parseDig(sections.get(String(i)) ?? ''));
    checkDnsperf(t, sections.get('dnsperf') ?? '');
  } finally {
    remove();
  }
});
