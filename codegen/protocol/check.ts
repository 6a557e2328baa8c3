/**
 * Checks the protocol spec beyond what TypeScript can.  The data may have
 * been produced by helpers or casts, so nothing the compiler promised is
 * assumed: every problem names the message and field and points at the line
 * of specs/protocol.ts that caused it.
 */
import type { Locator, Problem, Where } from '../framework.ts';
import type { AnyField, AnyMessage, AnyProtocol } from '../../specs/language/protocol.ts';
import {
  BASE_BITS,
  BASES,
  HEADER_BYTES,
  MAX_MESSAGE_LIMIT,
  RESERVED_FIELD_NAMES,
  ROUTES,
  SCALARS,
  SCM_MAX_FD,
  SNAKE,
  own,
  replyRoute,
  typeBytes,
} from './layout.ts';
import { buildModel, cIdentifiers, tsIdentifiers } from './model.ts';

const FALLBACK_WHERE: Where = { file: 'specs/protocol.ts', line: 1, column: 1 };

/**
 * Field and message names become C identifiers (struct members, union
 * members): no keywords, and no object-like macros a C file may have in scope
 * (`errno` from <errno.h>; `unix` and `linux` in GNU modes).
 */
const C_KEYWORDS = new Set(
  ('auto break case char const continue default do double else enum extern float for goto if inline int long ' +
    'register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while ' +
    'bool true false errno unix linux stdin stdout stderr static_assert alignas alignof noreturn thread_local ' +
    'complex imaginary').split(' '),
);

const PROTOCOL_KEYS = ['name', 'doc', 'version', 'maxMessageBytes', 'maxFds', 'errorReply', 'enums', 'flags', 'structs', 'messages'];
const MESSAGE_KEYS = ['name', 'code', 'doc', 'route', 'replies', 'fds', 'fields'];
const FIELD_KEYS = ['name', 'doc', 'type'];
const TYPE_KINDS = ['string', 'bytes', 'enum', 'flags', 'struct'];

type Path = readonly (string | number)[];

class Reporter {
  readonly problems: Problem[] = [];
  constructor(private readonly locator: Locator | undefined) {}
  where(path: Path): Where {
    return this.locator ? this.locator.at(path.map(String)) : FALLBACK_WHERE;
  }
  report(path: Path, subject: string, message: string): void {
    this.problems.push({ where: this.where(path), subject, message });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;
const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Checks the evaluated spec; `locator` is `ctx.specs.locators.get('protocol')`. */
export function checkProtocol(spec: unknown, locator: Locator | undefined): Problem[] {
  const r = new Reporter(locator);
  if (!isObject(spec)) {
    r.report([], 'protocol', 'specs/index.ts must export `protocol`, made with defineProtocol({...})');
    return r.problems;
  }
  if (!locator) {
    r.report([], 'protocol', "no defineProtocol({ name: 'protocol', ... }) literal found under specs/");
  }
  const p = spec as unknown as AnyProtocol;
  unknownKeys(r, [], 'protocol', spec, PROTOCOL_KEYS);
  if (p.name !== 'protocol') r.report(['name'], 'protocol', `name must be 'protocol' (codegen finds the spec by it), not ${JSON.stringify(p.name)}`);
  if (!isText(p.doc)) r.report(['doc'], 'protocol', 'needs a doc');
  if (!isInt(p.version, 1, 0xffff)) r.report(['version'], 'protocol', `version must be an integer in 1..65535 (the header holds a u16), not ${String(p.version)}`);
  const maxBytesOk = isInt(p.maxMessageBytes, HEADER_BYTES, MAX_MESSAGE_LIMIT);
  if (!maxBytesOk) {
    r.report(['maxMessageBytes'], 'protocol', `maxMessageBytes must be an integer in ${HEADER_BYTES}..${MAX_MESSAGE_LIMIT} (the header's length is a u16)`);
  }
  const maxFdsOk = isInt(p.maxFds, 0, SCM_MAX_FD);
  if (!maxFdsOk) r.report(['maxFds'], 'protocol', `maxFds must be an integer in 0..${SCM_MAX_FD} (SCM_MAX_FD)`);

  checkEnums(r, p);
  checkFlags(r, p);
  checkStructs(r, p);

  if (!Array.isArray(p.messages) || p.messages.length === 0) {
    r.report(['messages'], 'protocol', 'messages must be a non-empty array');
    return r.problems;
  }
  const messages = p.messages as readonly unknown[];
  const byName = new Map<string, { index: number; msg: AnyMessage }>();
  const byCode = new Map<number, { index: number; name: string }>();
  messages.forEach((raw, i) => {
    const subject = messageSubject(raw, i);
    if (!isObject(raw)) {
      r.report(['messages', i], subject, 'must be an object literal');
      return;
    }
    const m = raw as unknown as AnyMessage;
    unknownKeys(r, ['messages', i], subject, raw, MESSAGE_KEYS);
    if (typeof m.name !== 'string' || !SNAKE.test(m.name) || C_KEYWORDS.has(m.name)) {
      r.report(['messages', i, 'name'], subject, `name ${JSON.stringify(m.name)} must be a snake_case identifier that is not a C keyword or macro`);
    } else {
      const first = byName.get(m.name);
      if (first) {
        r.report(['messages', i, 'name'], subject, `duplicate message name (first declared at line ${r.where(['messages', first.index, 'name']).line})`);
      } else {
        byName.set(m.name, { index: i, msg: m });
      }
    }
    if (!isInt(m.code, 1, 0xffff)) {
      r.report(['messages', i, 'code'], subject, `type code must be an integer in 1..65535, not ${String(m.code)}`);
    } else {
      const first = byCode.get(m.code);
      if (first) {
        r.report(['messages', i, 'code'], subject, `duplicate type code ${m.code}: message '${first.name}' already uses it (line ${r.where(['messages', first.index, 'code']).line})`);
      } else {
        byCode.set(m.code, { index: i, name: String(m.name) });
      }
    }
    if (!(ROUTES as readonly unknown[]).includes(m.route)) {
      r.report(['messages', i, 'route'], subject, `route ${JSON.stringify(m.route)} is not one of ${ROUTES.join(', ')}`);
    }
    if (!isText(m.doc)) r.report(['messages', i, 'doc'], subject, 'needs a doc line');
    checkFds(r, p, m, i, subject, maxFdsOk);
    if (!Array.isArray(m.fields)) {
      r.report(['messages', i, 'fields'], subject, 'fields must be an array (empty when the message has none)');
    } else {
      checkFields(r, p, m.fields, ['messages', i, 'fields'], subject, false);
      const bytes = messageBytes(p, m);
      if (bytes !== undefined && maxBytesOk && bytes > p.maxMessageBytes) {
        r.report(['messages', i, 'name'], subject, `is ${bytes} bytes, over maxMessageBytes (${p.maxMessageBytes})`);
      }
    }
  });

  messages.forEach((raw, i) => {
    if (isObject(raw)) checkReplies(r, p, raw as unknown as AnyMessage, i, byName);
  });
  checkErrorReply(r, p, byName);
  checkUnused(r, p);
  if (r.problems.length === 0) checkGeneratedNames(r, p);
  return r.problems;
}

/** A declaration no field uses is dead weight in both generated codecs (and a likely typo elsewhere). */
function checkUnused(r: Reporter, p: AnyProtocol): void {
  const used = { enum: new Set<string>(), flags: new Set<string>(), struct: new Set<string>() };
  const note = (f: unknown) => {
    if (!isObject(f) || !isObject(f.type)) return;
    for (const kind of ['enum', 'flags', 'struct'] as const) {
      const ref = f.type[kind];
      if (typeof ref === 'string') used[kind].add(ref);
    }
  };
  for (const m of Array.isArray(p.messages) ? (p.messages as readonly unknown[]) : []) {
    if (isObject(m) && Array.isArray(m.fields)) m.fields.forEach(note);
  }
  for (const s of isObject(p.structs) ? Object.values(p.structs) : []) {
    if (isObject(s) && Array.isArray(s.fields)) s.fields.forEach(note);
  }
  const groups = [
    ['enums', 'enum', p.enums],
    ['flags', 'flags', p.flags],
    ['structs', 'struct', p.structs],
  ] as const;
  for (const [key, kind, decls] of groups) {
    for (const name of isObject(decls) ? Object.keys(decls) : []) {
      if (!used[kind].has(name)) r.report([key, name], `${kind} '${name}'`, 'is declared but no field uses it');
    }
  }
}

/**
 * The generated code names every message, enum, flag set and struct at file
 * scope, next to its own fixed names: two spec names must not turn into one
 * C or TypeScript name (`hello` + `SIZE` and enum `hello` value `size`; a
 * message `route` and the TypeScript type `Route`).
 */
function checkGeneratedNames(r: Reporter, p: AnyProtocol): void {
  const model = buildModel(p);
  for (const [language, ids] of [['C', cIdentifiers(model)], ['TypeScript', tsIdentifiers(model)]] as const) {
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) r.report(['messages'], 'protocol', `two declarations generate the ${language} name ${id}: rename one`);
      seen.add(id);
    }
  }
}

/** Header plus fields, or undefined when some field type is unknown. */
export function messageBytes(p: AnyProtocol, m: AnyMessage): number | undefined {
  let sum = HEADER_BYTES;
  for (const f of m.fields) {
    const n = isObject(f) ? typeBytes(f.type, p) : undefined;
    if (n === undefined) return undefined;
    sum += n;
  }
  return sum;
}

function messageSubject(raw: unknown, i: number): string {
  const name = isObject(raw) && typeof raw.name === 'string' ? raw.name : `#${i}`;
  return `message '${name}'`;
}

function unknownKeys(r: Reporter, path: Path, subject: string, obj: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) r.report([...path, k], subject, `unknown property '${k}' (expected ${known.join(', ')})`);
  }
}

function checkEnums(r: Reporter, p: AnyProtocol): void {
  if (!isObject(p.enums)) {
    r.report(['enums'], 'protocol', 'enums must be an object (empty when there are none)');
    return;
  }
  for (const [name, raw] of Object.entries(p.enums)) {
    const subject = `enum '${name}'`;
    const path = ['enums', name];
    if (!SNAKE.test(name)) r.report(path, subject, 'enum names must be snake_case');
    if (!isObject(raw)) {
      r.report(path, subject, 'must be { doc, base, values }');
      continue;
    }
    unknownKeys(r, path, subject, raw, ['doc', 'base', 'values']);
    if (!isText(raw.doc)) r.report([...path, 'doc'], subject, 'needs a doc');
    const base = raw.base;
    const bits = (BASES as readonly unknown[]).includes(base) ? BASE_BITS[base as keyof typeof BASE_BITS] : undefined;
    if (bits === undefined) r.report([...path, 'base'], subject, `base must be one of ${BASES.join(', ')}`);
    if (!isObject(raw.values) || Object.keys(raw.values).length === 0) {
      r.report([...path, 'values'], subject, 'values must list at least one value');
      continue;
    }
    const seen = new Map<number, string>();
    for (const [vname, v] of Object.entries(raw.values)) {
      const vpath = [...path, 'values', vname];
      const vsubject = `enum '${name}' value '${vname}'`;
      if (!SNAKE.test(vname)) r.report(vpath, vsubject, 'value names must be snake_case');
      if (!isObject(v)) {
        r.report(vpath, vsubject, 'must be { value, doc }');
        continue;
      }
      unknownKeys(r, vpath, vsubject, v, ['value', 'doc']);
      if (!isText(v.doc)) r.report([...vpath, 'doc'], vsubject, 'needs a doc');
      if (bits !== undefined && !isInt(v.value, 0, 2 ** bits - 1)) {
        r.report([...vpath, 'value'], vsubject, `value must be an integer that fits ${String(base)}`);
      } else if (typeof v.value === 'number') {
        const other = seen.get(v.value);
        if (other !== undefined) r.report([...vpath, 'value'], vsubject, `value ${v.value} is already '${other}'`);
        else seen.set(v.value, vname);
      }
    }
  }
}

function checkFlags(r: Reporter, p: AnyProtocol): void {
  if (!isObject(p.flags)) {
    r.report(['flags'], 'protocol', 'flags must be an object (empty when there are none)');
    return;
  }
  for (const [name, raw] of Object.entries(p.flags)) {
    const subject = `flags '${name}'`;
    const path = ['flags', name];
    if (!SNAKE.test(name)) r.report(path, subject, 'flag set names must be snake_case');
    if (!isObject(raw)) {
      r.report(path, subject, 'must be { doc, base, bits }');
      continue;
    }
    unknownKeys(r, path, subject, raw, ['doc', 'base', 'bits']);
    if (!isText(raw.doc)) r.report([...path, 'doc'], subject, 'needs a doc');
    const base = raw.base;
    const width = (BASES as readonly unknown[]).includes(base) ? BASE_BITS[base as keyof typeof BASE_BITS] : undefined;
    if (width === undefined) r.report([...path, 'base'], subject, `base must be one of ${BASES.join(', ')}`);
    if (!isObject(raw.bits) || Object.keys(raw.bits).length === 0) {
      r.report([...path, 'bits'], subject, 'bits must list at least one flag');
      continue;
    }
    const seen = new Map<number, string>();
    for (const [bname, b] of Object.entries(raw.bits)) {
      const bpath = [...path, 'bits', bname];
      const bsubject = `flags '${name}' bit '${bname}'`;
      if (!SNAKE.test(bname)) r.report(bpath, bsubject, 'flag names must be snake_case');
      if (!isObject(b)) {
        r.report(bpath, bsubject, 'must be { bit, doc }');
        continue;
      }
      unknownKeys(r, bpath, bsubject, b, ['bit', 'doc']);
      if (!isText(b.doc)) r.report([...bpath, 'doc'], bsubject, 'needs a doc');
      if (width !== undefined && !isInt(b.bit, 0, width - 1)) {
        r.report([...bpath, 'bit'], bsubject, `bit must be an integer in 0..${width - 1} for ${String(base)}`);
      } else if (typeof b.bit === 'number') {
        const other = seen.get(b.bit);
        if (other !== undefined) r.report([...bpath, 'bit'], bsubject, `bit ${b.bit} is already '${other}'`);
        else seen.set(b.bit, bname);
      }
    }
  }
}

function checkStructs(r: Reporter, p: AnyProtocol): void {
  if (!isObject(p.structs)) {
    r.report(['structs'], 'protocol', 'structs must be an object (empty when there are none)');
    return;
  }
  for (const [name, raw] of Object.entries(p.structs)) {
    const subject = `struct '${name}'`;
    const path = ['structs', name];
    if (!SNAKE.test(name)) r.report(path, subject, 'struct names must be snake_case');
    if (!isObject(raw)) {
      r.report(path, subject, 'must be { doc, fields }');
      continue;
    }
    unknownKeys(r, path, subject, raw, ['doc', 'fields']);
    if (!isText(raw.doc)) r.report([...path, 'doc'], subject, 'needs a doc');
    if (!Array.isArray(raw.fields) || raw.fields.length === 0) {
      r.report([...path, 'fields'], subject, 'fields must list at least one field');
      continue;
    }
    checkFields(r, p, raw.fields as readonly AnyField[], [...path, 'fields'], subject, true);
  }
}

function checkFields(r: Reporter, p: AnyProtocol, fields: readonly unknown[], path: Path, owner: string, inStruct: boolean): void {
  const seen = new Map<string, number>();
  fields.forEach((raw, j) => {
    const fpath = [...path, j];
    const name = isObject(raw) && typeof raw.name === 'string' ? raw.name : `#${j}`;
    const subject = `${owner} field '${name}'`;
    if (!isObject(raw)) {
      r.report(fpath, subject, 'must be { name, doc, type }');
      return;
    }
    unknownKeys(r, fpath, subject, raw, FIELD_KEYS);
    if (typeof raw.name !== 'string' || !SNAKE.test(raw.name) || C_KEYWORDS.has(raw.name)) {
      r.report([...fpath, 'name'], subject, 'field names must be snake_case identifiers that are not C keywords or macros (errno, unix, …)');
    } else if (!inStruct && RESERVED_FIELD_NAMES.has(raw.name)) {
      r.report([...fpath, 'name'], subject, `'${raw.name}' is taken by the header in the generated TypeScript`);
    } else if (seen.has(raw.name)) {
      r.report([...fpath, 'name'], subject, `duplicate field name (first at line ${r.where([...path, seen.get(raw.name) ?? 0]).line})`);
    } else {
      seen.set(raw.name, j);
    }
    if (!isText(raw.doc)) r.report([...fpath, 'doc'], subject, 'needs a doc');
    checkType(r, p, raw.type, [...fpath, 'type'], subject, inStruct);
  });
}

function checkType(r: Reporter, p: AnyProtocol, t: unknown, path: Path, subject: string, inStruct: boolean): void {
  const expected = `${SCALARS.join(', ')}, or { ${TYPE_KINDS.join(' | ')}: … }`;
  if (typeof t === 'string') {
    if (!(SCALARS as readonly string[]).includes(t)) r.report(path, subject, `unknown field type '${t}' (expected ${expected})`);
    return;
  }
  if (!isObject(t)) {
    r.report(path, subject, `unknown field type ${JSON.stringify(t)} (expected ${expected})`);
    return;
  }
  const keys = Object.keys(t);
  const kind = keys.length === 1 ? keys[0] : undefined;
  if (kind === undefined || !TYPE_KINDS.includes(kind)) {
    r.report(path, subject, `unknown field type { ${keys.join(', ')} } (expected ${expected})`);
    return;
  }
  const arg = t[kind];
  switch (kind) {
    case 'string':
      if (arg === undefined || arg === null) r.report(path, subject, 'string without a max length: write { string: MAX_BYTES }');
      else if (!isInt(arg, 1, 0xffff)) r.report(path, subject, `string max length must be an integer in 1..65535 (a u16 length prefix), not ${String(arg)}`);
      return;
    case 'bytes':
      if (!isInt(arg, 1, MAX_MESSAGE_LIMIT)) r.report(path, subject, `bytes length must be a positive integer, not ${String(arg)}`);
      return;
    case 'enum':
      if (!own(p.enums, arg)) r.report(path, subject, `unknown enum '${String(arg)}' (declared: ${Object.keys(p.enums ?? {}).join(', ') || 'none'})`);
      return;
    case 'flags':
      if (!own(p.flags, arg)) r.report(path, subject, `unknown flag set '${String(arg)}' (declared: ${Object.keys(p.flags ?? {}).join(', ') || 'none'})`);
      return;
    case 'struct':
      if (inStruct) r.report(path, subject, 'structs do not nest');
      else if (!own(p.structs, arg)) r.report(path, subject, `unknown struct '${String(arg)}' (declared: ${Object.keys(p.structs ?? {}).join(', ') || 'none'})`);
      return;
  }
}

function checkFds(r: Reporter, p: AnyProtocol, m: AnyMessage, i: number, subject: string, maxFdsOk: boolean): void {
  if (m.fds === undefined) return;
  if (!Array.isArray(m.fds)) {
    r.report(['messages', i, 'fds'], subject, 'fds must be an array of { name, doc }');
    return;
  }
  if (maxFdsOk && m.fds.length > p.maxFds) {
    r.report(['messages', i, 'fds'], subject, `carries ${m.fds.length} fds, over maxFds (${p.maxFds})`);
  }
  const seen = new Set<string>();
  (m.fds as readonly unknown[]).forEach((fd, k) => {
    const path = ['messages', i, 'fds', k];
    const name = isObject(fd) && typeof fd.name === 'string' ? fd.name : `#${k}`;
    const fsubject = `${subject} fd '${name}'`;
    if (!isObject(fd)) {
      r.report(path, fsubject, 'must be { name, doc }');
      return;
    }
    unknownKeys(r, path, fsubject, fd, ['name', 'doc']);
    if (!SNAKE.test(name)) r.report([...path, 'name'], fsubject, 'fd names must be snake_case');
    else if (seen.has(name)) r.report([...path, 'name'], fsubject, 'duplicate fd name');
    seen.add(name);
    if (!isText(fd.doc)) r.report([...path, 'doc'], fsubject, 'needs a doc');
  });
}

function checkReplies(r: Reporter, p: AnyProtocol, m: AnyMessage, i: number, byName: Map<string, { index: number; msg: AnyMessage }>): void {
  if (m.replies === undefined) return;
  const subject = messageSubject(m, i);
  if (!Array.isArray(m.replies) || m.replies.length === 0) {
    r.report(['messages', i, 'replies'], subject, 'replies must be a non-empty array of message names (omit it for a notice)');
    return;
  }
  const expectRoute = (ROUTES as readonly unknown[]).includes(m.route) ? replyRoute(m.route) : undefined;
  if (m.route === 'port') r.report(['messages', i, 'replies'], subject, 'messages on a port fd cannot be requests: nobody replies on a port fd');
  const seen = new Set<string>();
  m.replies.forEach((name, k) => {
    const path = ['messages', i, 'replies', k];
    const target = typeof name === 'string' ? byName.get(name) : undefined;
    if (!target) {
      r.report(path, subject, `replies names unknown message ${JSON.stringify(name)}`);
      return;
    }
    if (seen.has(name)) r.report(path, subject, `lists reply '${name}' twice`);
    seen.add(name);
    if (name === p.errorReply) r.report(path, subject, `'${name}' is the errorReply, possible for every request: do not list it`);
    if (target.msg.replies !== undefined) r.report(path, subject, `reply '${name}' is itself a request; replies cannot have replies`);
    if (expectRoute && target.msg.route !== expectRoute) {
      r.report(path, subject, `reply '${name}' travels ${String(target.msg.route)}, but replies to a ${m.route} request travel ${expectRoute}`);
    }
  });
}

function checkErrorReply(r: Reporter, p: AnyProtocol, byName: Map<string, { index: number; msg: AnyMessage }>): void {
  const target = typeof p.errorReply === 'string' ? byName.get(p.errorReply) : undefined;
  if (!target) {
    r.report(['errorReply'], 'protocol', `errorReply names unknown message ${JSON.stringify(p.errorReply)}`);
    return;
  }
  const subject = `message '${p.errorReply}'`;
  const path = ['messages', target.index];
  if (target.msg.route !== 'operator-to-shim') r.report([...path, 'route'], subject, 'the errorReply answers shim requests: its route must be operator-to-shim');
  if (target.msg.replies !== undefined) r.report([...path, 'replies'], subject, 'the errorReply cannot be a request');
  if (Array.isArray(target.msg.fds) && target.msg.fds.length > 0) r.report([...path, 'fds'], subject, 'the errorReply carries no fds');
  if (!Array.isArray(target.msg.fields) || !target.msg.fields.some((f) => isObject(f) && f.type === 'errno')) {
    r.report([...path, 'fields'], subject, "the errorReply needs a field of type 'errno'");
  }
}
