/**
 * The operator wire protocol: the spec checker (on the real spec and on
 * broken copies of it), and the generated TypeScript codec, rendered fresh
 * from specs/protocol.ts into a temporary directory.  The C codec and the
 * cross-language golden vectors are tested by ctest (codegen/protocol/test).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project } from 'ts-morph';
import { formatProblem, type Problem } from '../framework.ts';
import { loadSpecs } from '../load.ts';
import { protocol } from '../../specs/protocol.ts';
import type { AnyProtocol } from '../../specs/language/protocol.ts';
import { checkProtocol } from '../protocol/check.ts';
import { checkProtocolSpec, renderProtocolSpec } from '../protocol/generator.ts';
import { buildModel } from '../protocol/model.ts';
import { DOC, embeddedReference, renderedReference } from '../protocol/doc.ts';
import { loadCodec, mutate, randomMessage, Rng, ROUTES, vectorLines, type Codec } from '../protocol/test/vectors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SPEC = protocol as AnyProtocol;
const model = buildModel(SPEC);

/** The generated module, with the members these tests use beyond vectors.ts's Codec. */
interface Generated extends Codec {
  readonly VERSION: number;
  readonly MAGIC: number;
  readonly EncodeError: new (...args: never[]) => Error & { code: string; field: string };
  readonly DecodeError: new (...args: never[]) => { code: string; offset: number; field: string };
  parseInet4(text: string): Uint8Array | undefined;
  parseInet6(text: string): Uint8Array | undefined;
}

let tmp = '';
let gen: Generated;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-protocol-'));
  for (const out of renderProtocolSpec(SPEC)) {
    const file = path.join(tmp, out.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, out.content);
  }
  gen = (await loadCodec(path.join(tmp, 'ts', 'protocol.ts'))) as Generated;
});

test.after.always(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytesOf = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

/** A valid encoding of a random message of `type`. */
function sample(type: string, seed = 1): { msg: Record<string, unknown>; bytes: Uint8Array; route: string } {
  const m = model.messages.find((x) => x.name === type);
  if (!m) throw new Error(`no message ${type}`);
  const msg = randomMessage(m, new Rng(seed), gen);
  return { msg, bytes: gen.encode(msg), route: m.route };
}

function patched(bytes: Uint8Array, at: number, ...values: number[]): Uint8Array {
  const b = Uint8Array.from(bytes);
  b.set(values, at);
  return b;
}

const le16 = (n: number) => [n & 0xff, n >> 8];
const le32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

// ---- the spec ---------------------------------------------------------------------------------

/**
 * Loads a copy of specs/ through the real loader and runs the protocol
 * checker on it.  The copy's index exports only `protocol`: the other specs
 * belong to other generators, and their state must not decide this test.
 */
async function checkCopy(edit: (source: string) => string): Promise<{ problems: Problem[]; file: string; source: string }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-protocol-spec-'));
  const dir = path.join(tmp, 'specs');
  try {
    fs.cpSync(path.join(ROOT, 'specs'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'index.ts'), "export { protocol } from './protocol.ts';\n");
    const file = path.join(dir, 'protocol.ts');
    const original = fs.readFileSync(file, 'utf8');
    const source = edit(original);
    if (source === original) throw new Error('the edit changed nothing: the spec moved, update the test');
    fs.writeFileSync(file, source);
    const specs = await loadSpecs(dir, ROOT);
    // A copy outside the project is reported as if it were specs/ (codegen/load.ts).
    return { problems: checkProtocolSpec({ root: ROOT, specs }), file: 'specs/protocol.ts', source };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The 1-based line of the first `text` after the end of the first `after` (or from the start). */
function lineOf(source: string, text: string, after = ''): number {
  const from = after ? source.indexOf(after) : 0;
  const at = source.indexOf(text, from + after.length);
  if (from < 0 || at < 0) throw new Error(`'${text}' not found after '${after}'`);
  return source.slice(0, at).split('\n').length;
}

test('the real spec passes the protocol checks', async (t) => {
  const { problems } = await checkCopy((s) => `${s}\n`);
  t.deepEqual(problems.map(formatProblem), []);
});

test('the checker says so when specs/index.ts does not export protocol', (t) => {
  const problems = checkProtocol(undefined, undefined);
  t.is(problems.length, 1);
  t.regex(problems[0]!.message, /must export `protocol`/);
});

interface BrokenSpec {
  readonly title: string;
  readonly edit: (s: string) => string;
  /** Where the problem must point: the line of `text` (after `after`). */
  readonly text: string;
  readonly after?: string;
  readonly subject: string;
  readonly message: RegExp;
}

const once = (from: string, to: string) => (s: string) => s.replace(from, to);
const after = (anchor: string, from: string, to: string) => (s: string) => {
  const at = s.indexOf(anchor);
  return s.slice(0, at) + s.slice(at).replace(from, to);
};

const BROKEN: readonly BrokenSpec[] = [
  {
    title: 'a duplicate type code',
    edit: after("name: 'hello_reply'", 'code: 2,', 'code: 1,'),
    text: 'code: 1,',
    after: "name: 'hello_reply'",
    subject: "message 'hello_reply'",
    message: /duplicate type code 1: message 'hello' already uses it \(line \d+\)/,
  },
  {
    title: 'a duplicate message name',
    edit: once("name: 'unlisten',", "name: 'listen',"),
    text: "name: 'listen',",
    after: "name: 'listen',",
    subject: "message 'listen'",
    message: /duplicate message name \(first declared at line \d+\)/,
  },
  {
    title: 'an unknown field type',
    edit: once("{ name: 'backlog', type: 'u32'", "{ name: 'backlog', type: 'u128'"),
    text: "type: 'u128'",
    subject: "message 'listen' field 'backlog'",
    message: /unknown field type 'u128'/,
  },
  {
    title: 'a string without a max length',
    edit: once("{ name: 'program', type: { string: 64 }", "{ name: 'program', type: { string: undefined }"),
    text: 'type: { string: undefined }',
    subject: "message 'hello' field 'program'",
    message: /string without a max length/,
  },
  {
    title: 'a reply naming an unknown message',
    edit: once("replies: ['stats_reply']", "replies: ['stats_answer']"),
    text: "'stats_answer'",
    subject: "message 'stats_query'",
    message: /replies names unknown message "stats_answer"/,
  },
  {
    title: 'a message over the size bound',
    edit: once("{ name: 'message', type: { string: 200 }", "{ name: 'message', type: { string: 600 }"),
    text: "name: 'error'",
    subject: "message 'error'",
    message: /is 622 bytes, over maxMessageBytes \(512\)/,
  },
  {
    title: 'an unknown enum',
    edit: once("type: { enum: 'role' }", "type: { enum: 'roles' }"),
    text: "type: { enum: 'roles' }",
    subject: "message 'claim_circuit' field 'role'",
    message: /unknown enum 'roles'/,
  },
  {
    title: 'more fds than maxFds',
    edit: once('maxFds: 2,', 'maxFds: 1,'),
    text: 'fds: [',
    after: "name: 'connect_granted'",
    subject: "message 'connect_granted'",
    message: /carries 2 fds, over maxFds \(1\)/,
  },
  {
    title: 'an error reply without an errno',
    edit: once("errorReply: 'error',", "errorReply: 'ok',"),
    text: 'fields: []',
    after: "name: 'ok'",
    subject: "message 'ok'",
    message: /needs a field of type 'errno'/,
  },
  {
    title: 'two enum values with one number',
    edit: once('dgram: { value: 2,', 'dgram: { value: 1,'),
    text: 'value: 1,',
    after: 'dgram:',
    subject: "enum 'socket_type' value 'dgram'",
    message: /value 1 is already 'stream'/,
  },
  {
    title: 'a field name the header takes',
    edit: after("name: 'bind'", "{ name: 'socket_type',", "{ name: 'type',"),
    text: "name: 'type'",
    subject: "message 'bind' field 'type'",
    message: /taken by the header/,
  },
  {
    title: 'a reply on the wrong route',
    edit: after("name: 'hello_reply'", "route: 'operator-to-shim'", "route: 'port'"),
    text: "'hello_reply'",
    after: 'replies: [',
    subject: "message 'hello'",
    message: /reply 'hello_reply' travels port, but replies to a shim-to-operator request travel operator-to-shim/,
  },
  {
    title: 'a field named like a C macro',
    edit: once("{ name: 'errnum'", "{ name: 'errno'"),
    text: "name: 'errno'",
    subject: "message 'error' field 'errno'",
    message: /not C keywords or macros/,
  },
  {
    title: 'names that collide in the generated code',
    edit: once("name: 'stats_query',", "name: 'route',"),
    text: 'messages: [',
    subject: 'protocol',
    message: /two declarations generate the TypeScript name Route/,
  },
  {
    title: 'an enum nothing uses',
    edit: once('  enums: {\n', "  enums: {\n    spare: { doc: 'Unused.', base: 'u8', values: { one: { value: 1, doc: 'One.' } } },\n"),
    text: 'spare:',
    subject: "enum 'spare'",
    message: /declared but no field uses it/,
  },
];

for (const c of BROKEN) {
  test(`the checker reports ${c.title} with file, line and name`, async (t) => {
    const { problems, file, source } = await checkCopy(c.edit);
    const line = lineOf(source, c.text, c.after);
    const hit = problems.find((p) => p.subject === c.subject && c.message.test(p.message));
    t.truthy(hit, `expected "${c.subject}: ${c.message}" among:\n${problems.map(formatProblem).join('\n')}`);
    if (!hit) return;
    t.is(hit.where.file, file);
    t.is(hit.where.line, line, formatProblem(hit));
    t.true(formatProblem(hit).startsWith(`${file}:${line}:`));
  });
}

// ---- the generated codec ----------------------------------------------------------------------

test('the generated TypeScript type-checks under the project settings', (t) => {
  const project = new Project({
    compilerOptions: {
      strict: true,
      noUnusedLocals: true,
      noImplicitReturns: true,
      noFallthroughCasesInSwitch: true,
      noEmit: true,
      module: 199 /* NodeNext */,
      moduleResolution: 99 /* NodeNext */,
      target: 9 /* ES2022 */,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
    },
    skipAddingFilesFromTsConfig: true,
  });
  project.addSourceFileAtPath(path.join(tmp, 'ts', 'protocol.ts'));
  const problems = project.getPreEmitDiagnostics().map((d) => {
    const text = d.getMessageText();
    return `${d.getLineNumber()}: ${typeof text === 'string' ? text : text.getMessageText()}`;
  });
  t.deepEqual(problems, []);
});

test('every message type round-trips, byte for byte', (t) => {
  const rng = new Rng(7);
  t.is(Object.keys(gen.TYPES).length, SPEC.messages.length);
  for (const m of model.messages) {
    for (let i = 0; i < 40; i++) {
      const msg = randomMessage(m, rng, gen);
      const bytes = gen.encode(msg);
      t.is(bytes.length, gen.TYPES[m.name]!.bytes, m.name);
      t.is(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'SBWP');
      const back = gen.decode(bytes, m.route);
      if (gen.isDecodeError(back)) {
        t.fail(`${m.name}: ${back.message}`);
        continue;
      }
      t.deepEqual(back, msg, m.name);
      t.is(hexOf(gen.encode(back as object)), hexOf(bytes), m.name);
      t.is(gen.format(back as object), gen.format(msg), m.name);
    }
  }
});

test('the layout on the wire is the documented one', (t) => {
  // Written out by hand from docs/protocol.md: a change here is a protocol change (bump the version).
  t.is(
    hexOf(gen.encode({ type: 'release', requestId: 0x01020304, reservation: 7n })),
    '53425750' + '0100' + '1200' + '1800' + '00' + '00' + '04030201' + '0700000000000000',
  );
  t.is(
    hexOf(
      gen.encode({
        type: 'bind',
        requestId: 1,
        socketType: 'stream',
        address: { family: 'inet', address: '127.0.0.1', port: 8080 },
        options: ['v6only', 'reuse_addr'],
      }),
    ),
    '53425750' + '0100' + '1000' + '2e00' + '00' + '00' + '01000000' + '01' +
      '0200' + '901f' + '00000000' + '00000000' + '7f000001' + '00'.repeat(12) + '05',
  );
  const granted = sample('connect_granted');
  t.is(granted.bytes[10], 2, 'fd_count of connect_granted');
  t.deepEqual(gen.TYPES.connect_granted!.fds, ['memfd', 'endpoint']);
  t.deepEqual(gen.TYPES.claim!.fds, ['fd']);
});

interface Rejection {
  readonly what: string;
  readonly bytes: Uint8Array;
  readonly route: string;
  readonly code: string;
  readonly offset: number;
  readonly field: string;
}

function rejections(): Rejection[] {
  const hello = sample('hello');
  const bind = sample('bind');
  const connect = sample('connect', 3);
  const granted = sample('connect_granted');
  const error = sample('error');
  const closed = sample('closed');
  const stats = sample('stats_query');
  const off = (msg: string, field: string) => {
    const leaf = model.messages.find((m) => m.name === msg)?.leaves.find((l) => l.path === field);
    if (!leaf) throw new Error(`${msg}.${field}`);
    return leaf.offset;
  };
  const program = off('hello', 'program');
  const withProgram = (len: number, ...text: number[]) => {
    const b = patched(hello.bytes, program, ...le16(len), ...new Array<number>(64).fill(0));
    b.set(text, program + 2);
    return b;
  };
  const unspecBytes = gen.encode({ ...connect.msg, source: { family: 'unspec' } });
  const s2o = 'shim-to-operator';
  const o2s = 'operator-to-shim';
  const r = (what: string, bytes: Uint8Array, route: string, code: string, offset: number, field: string): Rejection => ({
    what,
    bytes,
    route,
    code,
    offset,
    field,
  });
  return [
    r('empty', new Uint8Array(0), s2o, 'short', 0, 'header'),
    r('truncated header', hello.bytes.subarray(0, 15), s2o, 'short', 0, 'header'),
    r('truncated body', hello.bytes.subarray(0, hello.bytes.length - 1), s2o, 'length', 8, 'header.length'),
    r('one byte too many', Uint8Array.from([...hello.bytes, 0]), s2o, 'length', 8, 'header.length'),
    r('header agrees, type does not', patched(Uint8Array.from([...stats.bytes, 0]), 8, ...le16(17)), s2o, 'length', 8, 'header.length'),
    r('longer than any message', new Uint8Array(gen.MAX_MESSAGE_BYTES + 1), s2o, 'too_big', 0, 'header'),
    r('wrong magic', patched(hello.bytes, 0, 0x73), s2o, 'magic', 0, 'header.magic'),
    r('wrong version', patched(hello.bytes, 4, ...le16(gen.VERSION + 1)), s2o, 'version', 4, 'header.version'),
    r('version 0', patched(hello.bytes, 4, 0, 0), s2o, 'version', 4, 'header.version'),
    r('unknown type', patched(hello.bytes, 6, ...le16(0xffff)), s2o, 'type', 6, 'header.type'),
    r('type 0', patched(hello.bytes, 6, 0, 0), s2o, 'type', 6, 'header.type'),
    r('a request read as from the operator', hello.bytes, o2s, 'route', 6, 'header.type'),
    r('incoming on the control socket', sample('incoming').bytes, o2s, 'route', 6, 'header.type'),
    r('fd count', patched(hello.bytes, 10, 1), s2o, 'fds', 10, 'header.fd_count'),
    r('fds missing', patched(granted.bytes, 10, 1), o2s, 'fds', 10, 'header.fd_count'),
    r('reserved byte', patched(hello.bytes, 11, 0x80), s2o, 'reserved', 11, 'header.reserved'),
    r('request without id', patched(hello.bytes, 12, 0, 0, 0, 0), s2o, 'request_id', 12, 'header.request_id'),
    r('notice with an id', patched(closed.bytes, 12, 1, 0, 0, 0), s2o, 'request_id', 12, 'header.request_id'),
    r('bool 2', patched(granted.bytes, off('connect_granted', 'in_progress'), 2), o2s, 'bool', off('connect_granted', 'in_progress'), 'connect_granted.in_progress'),
    r('errno 0', patched(error.bytes, off('error', 'errnum'), ...le32(0)), o2s, 'errno', off('error', 'errnum'), 'error.errnum'),
    r('errno 4096', patched(error.bytes, off('error', 'errnum'), ...le32(4096)), o2s, 'errno', off('error', 'errnum'), 'error.errnum'),
    r('errno -1', patched(error.bytes, off('error', 'errnum'), 0xff, 0xff, 0xff, 0xff), o2s, 'errno', off('error', 'errnum'), 'error.errnum'),
    r('enum 0', patched(bind.bytes, off('bind', 'socket_type'), 0), s2o, 'enum', off('bind', 'socket_type'), 'bind.socket_type'),
    r('enum 3', patched(bind.bytes, off('bind', 'socket_type'), 3), s2o, 'enum', off('bind', 'socket_type'), 'bind.socket_type'),
    r('undeclared flag', patched(bind.bytes, off('bind', 'options'), 0x08), s2o, 'flags', off('bind', 'options'), 'bind.options'),
    r('flag bit 31', patched(hello.bytes, off('hello', 'capabilities'), 0, 0, 0, 0x80), s2o, 'flags', off('hello', 'capabilities'), 'hello.capabilities'),
    r('string over max', withProgram(65, ...new Array<number>(64).fill(0x61)), s2o, 'string', program, 'hello.program'),
    r('string length 65535', withProgram(0xffff), s2o, 'string', program, 'hello.program'),
    r('overlong UTF-8', withProgram(2, 0xc0, 0x80), s2o, 'string', program, 'hello.program'),
    r('UTF-16 surrogate', withProgram(3, 0xed, 0xa0, 0x80), s2o, 'string', program, 'hello.program'),
    r('above U+10FFFF', withProgram(4, 0xf4, 0x90, 0x80, 0x80), s2o, 'string', program, 'hello.program'),
    r('truncated sequence', withProgram(2, 0xe2, 0x82), s2o, 'string', program, 'hello.program'),
    r('NUL in a string', withProgram(3, 0x61, 0, 0x62), s2o, 'string', program, 'hello.program'),
    r('non-zero padding', patched(withProgram(1, 0x61), program + 2 + 63, 1), s2o, 'string', program, 'hello.program'),
    r('unknown family', patched(connect.bytes, off('connect', 'destination'), 1, 0), s2o, 'address', off('connect', 'destination'), 'connect.destination'),
    r('AF_UNSPEC with a port', patched(unspecBytes, off('connect', 'source') + 2, 1), s2o, 'address', off('connect', 'source'), 'connect.source'),
    r(
      'AF_INET with a scope id',
      patched(gen.encode({ ...connect.msg, destination: { family: 'inet', address: '1.2.3.4', port: 1 } }), off('connect', 'destination') + 8, 1),
      s2o,
      'address',
      off('connect', 'destination'),
      'connect.destination',
    ),
    r(
      'AF_INET with bytes after the address',
      patched(gen.encode({ ...connect.msg, destination: { family: 'inet', address: '1.2.3.4', port: 1 } }), off('connect', 'destination') + 27, 1),
      s2o,
      'address',
      off('connect', 'destination'),
      'connect.destination',
    ),
  ];
}

test('decode rejects malformed input and names the field at fault', (t) => {
  for (const c of rejections()) {
    const r = gen.decode(c.bytes, c.route);
    if (!gen.isDecodeError(r)) {
      t.fail(`${c.what}: accepted as ${gen.format(r as object)}`);
      continue;
    }
    t.deepEqual({ code: r.code, offset: r.offset, field: r.field }, { code: c.code, offset: c.offset, field: c.field }, c.what);
    t.true(r instanceof gen.DecodeError);
  }
});

test('decode accepts the edges of every rule', (t) => {
  const hello = sample('hello');
  const program = model.messages[0]!.leaves.find((l) => l.path === 'program')!.offset;
  for (const text of ['', '\uFEFF', '\u0080', '\uD7FF', '\uE000', '\u{10FFFF}', '\x01\x7f', 'x'.repeat(64)]) {
    const msg = { ...hello.msg, program: text };
    const back = gen.decode(gen.encode(msg), 'shim-to-operator');
    t.deepEqual(back, msg, JSON.stringify(text));
  }
  t.is(gen.encode({ ...hello.msg, program: '' }).subarray(program, program + 66).every((b) => b === 0), true);
  const error = sample('error');
  for (const errnum of [1, 4095]) t.deepEqual(gen.decode(gen.encode({ ...error.msg, errnum }), 'operator-to-shim'), { ...error.msg, errnum });
  const reply = sample('connect_granted');
  t.false(gen.isDecodeError(gen.decode(patched(reply.bytes, 12, 0, 0, 0, 0), 'operator-to-shim')), 'replies may echo id 0');
});

test('encode refuses what a peer would reject', (t) => {
  const hello = sample('hello').msg;
  const bind = sample('bind').msg;
  const hr = sample('hello_reply').msg;
  const cases: [string, object, string][] = [
    ['string over max', { ...hello, program: 'x'.repeat(65) }, 'string'],
    ['multibyte string over max', { ...hello, program: '€'.repeat(22) }, 'string'],
    ['lone surrogate', { ...hello, program: 'a\uD800b' }, 'string'],
    ['NUL in a string', { ...hello, program: 'a\0b' }, 'string'],
    ['not a string', { ...hello, program: 5 }, 'value'],
    ['request id 0 on a request', { ...hello, requestId: 0 }, 'request_id'],
    ['request id on a notice', { ...sample('closed').msg, requestId: 3 }, 'request_id'],
    ['request id over u32', { ...hello, requestId: 2 ** 32 }, 'value'],
    ['negative pid beyond i32', { ...hello, pid: -(2 ** 31) - 1 }, 'value'],
    ['fractional number', { ...hello, pid: 1.5 }, 'value'],
    ['unknown flag', { ...hello, capabilities: ['zero_copy', 'teleport'] }, 'flags'],
    ['unknown enum value', { ...bind, socketType: 'raw' }, 'enum'],
    ['unknown family', { ...bind, address: { family: 'unix', address: '/tmp/x', port: 0 } }, 'address'],
    ['bad IPv4 text', { ...bind, address: { family: 'inet', address: '256.1.1.1', port: 0 } }, 'address'],
    ['IPv4 with leading zeros', { ...bind, address: { family: 'inet', address: '01.1.1.1', port: 0 } }, 'address'],
    ['bad IPv6 text', { ...bind, address: { family: 'inet6', address: '1::2::3', port: 0, flowinfo: 0, scopeId: 0 } }, 'address'],
    ['port over u16', { ...bind, address: { family: 'inet', address: '1.1.1.1', port: 65536 } }, 'value'],
    ['u64 as a number', { type: 'release', requestId: 1, reservation: 7 }, 'value'],
    ['negative u64', { type: 'release', requestId: 1, reservation: -1n }, 'value'],
    ['u64 over 2^64', { type: 'release', requestId: 1, reservation: 2n ** 64n }, 'value'],
    ['bytes of the wrong length', { ...hr, instance: new Uint8Array(15) }, 'value'],
    ['errno 0', { type: 'error', requestId: 1, errnum: 0, message: '' }, 'errno'],
    ['unknown type', { type: 'teleport', requestId: 1 }, 'type'],
  ];
  for (const [what, msg, code] of cases) {
    const e = t.throws(() => gen.encode(msg), { instanceOf: gen.EncodeError }, what);
    t.is(e?.code, code, `${what}: ${e?.message}`);
  }
});

test('random and mutated input never makes decode throw, and only canonical bytes decode', (t) => {
  const rng = new Rng(99);
  const valid = model.messages.map((m) => ({ m, bytes: gen.encode(randomMessage(m, rng, gen)) }));
  let accepted = 0;
  const rounds = 100_000;
  for (let i = 0; i < rounds; i++) {
    const { m, bytes } = rng.pick(valid);
    let input: Uint8Array;
    const strategy = rng.int(0, 2);
    if (strategy === 0) input = mutate(bytes, rng, gen.MAX_MESSAGE_BYTES);
    else if (strategy === 1) input = rng.bytes(rng.int(0, gen.MAX_MESSAGE_BYTES + 8));
    else input = Uint8Array.from([...bytes.subarray(0, 16), ...rng.bytes(bytes.length - 16).map((b) => (rng.int(0, 1) ? 0 : b))]);
    const route = rng.int(0, 3) === 0 ? rng.pick(ROUTES) : m.route;
    let result: unknown;
    try {
      result = gen.decode(input, route);
    } catch (e) {
      t.fail(`decode threw on ${hexOf(input)}: ${String(e)}`);
      return;
    }
    if (gen.isDecodeError(result)) continue;
    accepted++;
    const again = gen.encode(result as object);
    if (hexOf(again) !== hexOf(input)) {
      t.fail(`accepted a non-canonical encoding: ${hexOf(input)} re-encodes as ${hexOf(again)}`);
      return;
    }
  }
  t.log(`${accepted} of ${rounds} accepted`);
  t.true(accepted > rounds / 50, 'a fair share of inputs reach a full decode');
});

test('IPv6 text is what glibc inet_ntop prints, and parsing accepts the usual forms', (t) => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0:0', '::ffff:0.0.0.0'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::0.0.0.2', '::2'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['FE80:0000::0001', 'fe80::1'],
    ['2001:db8:0:0:0:ff00:42:8329', '2001:db8::ff00:42:8329'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [text, canonical] of cases) {
    const bytes = gen.parseInet6(text);
    t.truthy(bytes, text);
    if (bytes) t.is(gen.formatInet6(bytes), canonical, text);
  }
  for (const bad of ['', ':', ':::', '1:2', '1::2::3', '12345::', 'g::', '::1.2.3', '1.2.3.4', '1:2:3:4:5:6:7:8:9', '::1.2.3.4:5']) {
    t.is(gen.parseInet6(bad), undefined, bad);
  }
  const rng = new Rng(5);
  for (let i = 0; i < 2000; i++) {
    const b = Uint8Array.from({ length: 16 }, (_, k) => (rng.int(0, 2) === 0 ? rng.int(0, 255) : k >= 10 && rng.int(0, 1) ? 0xff : 0));
    t.deepEqual(gen.parseInet6(gen.formatInet6(b)), b);
  }
});

test('golden vectors: deterministic, every type accepted, rejections present', (t) => {
  const opts = { seed: 11, perType: 3, mutations: 4 };
  const lines = vectorLines(model, gen, opts);
  t.deepEqual(vectorLines(model, gen, opts), lines, 'the same seed gives the same vectors');
  const body = lines.filter((l) => !l.startsWith('#'));
  t.is(body.length, model.messages.length * opts.perType * (1 + opts.mutations));
  for (const m of model.messages) t.true(body.some((l) => new RegExp(`^${m.route} \\S+ ok ${m.name} #`).test(l)), m.name);
  t.true(body.some((l) => / reject /.test(l)));
  for (const line of body) {
    const [route, hex, verdict, ...rest] = line.split(' ');
    const r = gen.decode(bytesOf(hex!), route!);
    if (verdict === 'ok') t.is(gen.format(r as object), rest.join(' '));
    else t.true(gen.isDecodeError(r) && `${r.code} ${r.offset} ${r.field}` === rest.join(' '), line);
  }
});

test('write-vectors.ts, which ctest runs, writes the vectors file', (t) => {
  const out = path.join(tmp, 'vectors.txt');
  execFileSync(process.execPath, ['--import', 'tsx', 'codegen/protocol/test/write-vectors.ts', '--gen', tmp, '--out', out, '--per-type', '2', '--mutations', '1'], {
    cwd: ROOT,
    stdio: 'pipe',
  });
  const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
  t.deepEqual(lines, vectorLines(model, gen, { seed: 20240601, perType: 2, mutations: 1 }));
});

test('docs/protocol.md embeds the reference the spec renders', (t) => {
  const embedded = embeddedReference(fs.readFileSync(DOC, 'utf8'));
  t.not(embedded, undefined, 'docs/protocol.md lost its reference markers');
  t.is(embedded, renderedReference(SPEC).replace(/\n$/, ''), 'stale: run npx tsx codegen/protocol/doc.ts');
});
