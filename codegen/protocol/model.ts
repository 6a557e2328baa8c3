/**
 * The rendering model: a checked spec with every field placed at its offset
 * and named the way each generated language spells it.  Templates only loop
 * over this; all layout decisions are made here (and in layout.ts).
 */
import type { AnyField, AnyFieldType, AnyMessage, AnyProtocol, Base, Route } from '../../specs/language/protocol.ts';
import { BASE_BITS, HEADER_BYTES, HEADER_FIELDS, MAGIC, camel, pascal, typeBytes } from './layout.ts';

/** Decode outcomes, in the order both decoders test them (C enum values follow this order). */
export const STATUSES = [
  { name: 'ok', doc: 'Success.' },
  { name: 'short', doc: 'Shorter than the header.' },
  { name: 'too_big', doc: 'Longer than the largest message (maxMessageBytes).' },
  { name: 'magic', doc: 'Not the protocol\'s magic.' },
  { name: 'version', doc: 'Another protocol version.' },
  { name: 'type', doc: 'Unknown message type.' },
  { name: 'route', doc: 'A message type that does not travel on this route.' },
  { name: 'length', doc: 'The header\'s length differs from the bytes received or from the type\'s size.' },
  { name: 'fds', doc: 'The header\'s fd count differs from what the type carries.' },
  { name: 'reserved', doc: 'A reserved header byte is not zero.' },
  { name: 'request_id', doc: 'A request with request id 0, or a notice with a non-zero one.' },
  { name: 'bool', doc: 'A bool that is neither 0 nor 1.' },
  { name: 'errno', doc: 'An errno outside 1..4095.' },
  { name: 'enum', doc: 'A value the enum does not declare.' },
  { name: 'flags', doc: 'A bit the flag set does not declare.' },
  { name: 'string', doc: 'A string too long, not UTF-8, containing NUL, or with non-zero padding.' },
  { name: 'address', doc: 'An unknown family, or bytes the family does not use that are not zero.' },
  { name: 'no_space', doc: 'Encoding only: the buffer is smaller than the message.' },
] as const;

export type LeafKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i32' | 'bool' | 'errno' | 'sockaddr' | 'string' | 'bytes' | 'enum' | 'flags';

export interface EnumModel {
  readonly name: string;
  readonly doc: string;
  readonly base: Base;
  readonly cType: string; // storage type in structs
  readonly cTag: string; // enum tag
  readonly cUpper: string;
  readonly tsType: string;
  readonly tsTable: string;
  readonly maxNameLength: number;
  readonly values: readonly { name: string; value: number; doc: string; cConst: string }[];
}

export interface FlagsModel {
  readonly name: string;
  readonly doc: string;
  readonly base: Base;
  readonly cType: string;
  readonly cUpper: string;
  readonly cAll: string; // macro of every declared bit
  readonly allMask: string; // hex
  readonly cAllMask: string; // C literal
  readonly tsType: string;
  readonly tsTable: string;
  readonly formatMax: number;
  readonly bits: readonly { name: string; bit: number; doc: string; cConst: string; mask: string; cMask: string; value: number }[];
}

export interface LeafModel {
  readonly kind: LeafKind;
  /** Dotted spec path inside the message: `geometry.layout`. */
  readonly path: string;
  /** `message.path`, as decode errors name it. */
  readonly where: string;
  readonly offset: number;
  readonly bytes: number;
  readonly cMember: string;
  readonly cOffset: string; // macro name
  readonly cInt: string; // C integer type of a u*/i32/errno/enum/flags leaf
  readonly tsName: string; // the last path component, camelCase
  readonly tsVar: string;
  readonly tsAccess: string;
  /** Integer leaves: the IntKind the TypeScript helpers read and write ('u8' for an enum stored in a u8). */
  readonly tsInt: string;
  readonly width: number; // integer leaves: bits
  readonly max?: number;
  readonly length?: number;
  readonly enumRef?: EnumModel;
  readonly flagsRef?: FlagsModel;
  readonly formatMax: number;
}

export interface FieldModel {
  readonly name: string;
  readonly doc: string;
  readonly tsName: string;
  readonly tsType: string;
  readonly cDecl: string;
  readonly typeText: string;
  readonly offset: number;
  readonly bytes: number;
  readonly isStruct: boolean;
  readonly struct?: StructModel;
  readonly leaves: readonly LeafModel[];
}

export interface StructModel {
  readonly name: string;
  readonly doc: string;
  readonly cTag: string;
  readonly tsType: string;
  readonly bytes: number;
  /** Offsets relative to the struct. */
  readonly fields: readonly FieldModel[];
}

export interface MessageModel {
  readonly name: string;
  readonly code: number;
  readonly doc: string;
  readonly route: Route;
  readonly cRoute: string;
  readonly kind: 'request' | 'reply' | 'notice';
  readonly cKind: string;
  readonly replies: readonly string[];
  readonly repliesText: string;
  readonly cType: string; // SB_PROTO_MSG_HELLO
  readonly cUpper: string; // SB_PROTO_HELLO
  readonly cTag: string; // sb_proto_hello
  readonly tsType: string; // Hello
  readonly fds: readonly { name: string; doc: string; index: number; cConst: string }[];
  readonly fdNames: string;
  readonly fields: readonly FieldModel[];
  readonly leaves: readonly LeafModel[];
  readonly hasFields: boolean;
  readonly bytes: number;
  readonly formatMax: number;
}

export interface ProtocolModel {
  readonly doc: string;
  readonly version: number;
  readonly magic: string;
  readonly headerBytes: number;
  readonly header: readonly { name: string; type: string; offset: number; doc: string; cOffset: string }[];
  readonly maxMessageBytes: number;
  readonly maxFds: number;
  readonly errorReply: string;
  readonly statuses: readonly { name: string; doc: string; cConst: string; value: number }[];
  readonly enums: readonly EnumModel[];
  readonly flags: readonly FlagsModel[];
  readonly structs: readonly StructModel[];
  readonly messages: readonly MessageModel[];
  readonly routes: readonly { name: Route; cConst: string; value: number }[];
  readonly formatMax: number;
  /** Which leaf kinds occur, so the TypeScript output only defines helpers it uses (noUnusedLocals). */
  readonly uses: { readonly [K in LeafKind]?: true };
}

const C_INT: Record<string, string> = { u8: 'uint8_t', u16: 'uint16_t', u32: 'uint32_t', u64: 'uint64_t', i32: 'int32_t', errno: 'int32_t' };
const TS_SCALAR: Record<string, string> = {
  u8: 'number',
  u16: 'number',
  u32: 'number',
  u64: 'bigint',
  i32: 'number',
  errno: 'number',
  bool: 'boolean',
  sockaddr: 'Address',
};
/** Longest text `format()` prints for each scalar, to size C buffers. */
const SCALAR_FORMAT_MAX: Record<string, number> = {
  u8: 3,
  u16: 5,
  u32: 10,
  u64: 20,
  i32: 11,
  errno: 11,
  bool: 5,
  // inet6:[<45>]:65535,flowinfo=4294967295,scope=4294967295
  sockaddr: 7 + 45 + 2 + 5 + 10 + 10 + 7 + 10,
};

const upper = (s: string) => s.toUpperCase();
const hex = (n: number) => `0x${n.toString(16)}`;

function routeConst(r: Route): string {
  return `SB_PROTO_ROUTE_${upper(r.replace(/-/g, '_'))}`;
}

export function buildModel(p: AnyProtocol): ProtocolModel {
  const enums = new Map<string, EnumModel>();
  for (const [name, e] of Object.entries(p.enums)) {
    const cUpper = `SB_PROTO_${upper(name)}`;
    const values = Object.entries(e.values).map(([v, d]) => ({ name: v, value: d.value, doc: d.doc, cConst: `${cUpper}_${upper(v)}` }));
    enums.set(name, {
      name,
      doc: e.doc,
      base: e.base,
      cType: C_INT[e.base] ?? 'uint32_t',
      cTag: `sb_proto_${name}`,
      cUpper,
      tsType: pascal(name),
      tsTable: upper(name),
      maxNameLength: Math.max(...values.map((v) => v.name.length)),
      values,
    });
  }
  const flags = new Map<string, FlagsModel>();
  for (const [name, g] of Object.entries(p.flags)) {
    const cUpper = `SB_PROTO_${upper(name)}`;
    const suffix = g.base === 'u32' ? 'u' : '';
    const bits = Object.entries(g.bits)
      .map(([b, d]) => ({ name: b, bit: d.bit, doc: d.doc, cConst: `${cUpper}_${upper(b)}`, value: 2 ** d.bit, mask: hex(2 ** d.bit), cMask: `${hex(2 ** d.bit)}${suffix}` }))
      .sort((a, b) => a.bit - b.bit);
    const all = bits.reduce((acc, b) => acc + b.value, 0);
    flags.set(name, {
      name,
      doc: g.doc,
      base: g.base,
      cType: C_INT[g.base] ?? 'uint32_t',
      cUpper,
      cAll: `${cUpper}_ALL`,
      allMask: hex(all),
      cAllMask: `${hex(all)}${suffix}`,
      tsType: pascal(name),
      tsTable: upper(name),
      formatMax: Math.max(1, bits.reduce((acc, b) => acc + b.name.length + 1, 0)),
      bits,
    });
  }

  const fieldsOf = (fields: readonly AnyField[], start: number, owner: string, cUpperOwner: string, structName?: string): FieldModel[] => {
    let offset = start;
    let var_ = 0;
    return fields.map((f) => {
      const bytes = typeBytes(f.type, p) ?? 0;
      const field = makeField(f, offset, owner, cUpperOwner, structName, () => `v${var_++}`);
      offset += bytes;
      return field;
    });
  };

  const makeLeaf = (t: AnyFieldType, name: string, offset: number, owner: string, cUpperOwner: string, prefix: string | undefined, tsVar: string): LeafModel => {
    const path = prefix ? `${prefix}.${name}` : name;
    const tsPath = path.split('.').map(camel).join('.');
    const base = {
      path,
      where: `${owner}.${path}`,
      offset,
      bytes: typeBytes(t, p) ?? 0,
      cMember: path,
      cOffset: `${cUpperOwner}_${upper(path.replace(/\./g, '_'))}_OFFSET`,
      tsName: camel(name),
      tsVar,
      tsAccess: `m.${tsPath}`,
    };
    if (typeof t === 'string') {
      const width = t === 'u8' || t === 'bool' ? 8 : t === 'u16' ? 16 : t === 'u64' ? 64 : 32;
      const tsInt = t === 'errno' ? 'i32' : t === 'bool' ? 'u8' : t;
      return { ...base, kind: t, cInt: C_INT[t] ?? '', width, tsInt, formatMax: SCALAR_FORMAT_MAX[t] ?? 0 };
    }
    if ('string' in t) return { ...base, kind: 'string', cInt: '', width: 0, tsInt: '', max: t.string, formatMax: 2 + 4 * t.string };
    if ('bytes' in t) return { ...base, kind: 'bytes', cInt: '', width: 0, tsInt: '', length: t.bytes, formatMax: 2 * t.bytes };
    if ('enum' in t) {
      const e = enums.get(t.enum);
      if (!e) throw new Error(`protocol model: unknown enum ${t.enum} (the checker should have said so)`);
      return { ...base, kind: 'enum', cInt: e.cType, width: BASE_BITS[e.base], tsInt: e.base, enumRef: e, formatMax: e.maxNameLength };
    }
    if ('flags' in t) {
      const g = flags.get(t.flags);
      if (!g) throw new Error(`protocol model: unknown flags ${t.flags} (the checker should have said so)`);
      return { ...base, kind: 'flags', cInt: g.cType, width: BASE_BITS[g.base], tsInt: g.base, flagsRef: g, formatMax: g.formatMax };
    }
    throw new Error(`protocol model: a struct cannot be a leaf (${path})`);
  };

  const structs = new Map<string, StructModel>();
  const makeField = (f: AnyField, offset: number, owner: string, cUpperOwner: string, prefix: string | undefined, nextVar: () => string): FieldModel => {
    const t = f.type;
    const bytes = typeBytes(t, p) ?? 0;
    const common = { name: f.name, doc: f.doc, tsName: camel(f.name), offset, bytes };
    if (typeof t === 'object' && 'struct' in t) {
      const s = structs.get(t.struct);
      if (!s) throw new Error(`protocol model: unknown struct ${t.struct}`);
      const path = prefix ? `${prefix}.${f.name}` : f.name;
      let inner = offset;
      const leaves = (p.structs[t.struct]?.fields ?? []).map((sf) => {
        const leaf = makeLeaf(sf.type, sf.name, inner, owner, cUpperOwner, path, nextVar());
        inner += leaf.bytes;
        return leaf;
      });
      return { ...common, tsType: s.tsType, cDecl: `struct ${s.cTag} ${f.name}`, typeText: `struct ${t.struct}`, isStruct: true, struct: s, leaves };
    }
    const leaf = makeLeaf(t, f.name, offset, owner, cUpperOwner, prefix, nextVar());
    return { ...common, tsType: tsTypeOf(t), cDecl: cDeclOf(t, f.name), typeText: typeTextOf(t), isStruct: false, leaves: [leaf] };
  };

  const tsTypeOf = (t: AnyFieldType): string => {
    if (typeof t === 'string') return TS_SCALAR[t] ?? 'never';
    if ('string' in t) return 'string';
    if ('bytes' in t) return 'Uint8Array';
    if ('enum' in t) return enums.get(t.enum)?.tsType ?? 'never';
    if ('flags' in t) return `readonly ${flags.get(t.flags)?.tsType ?? 'never'}[]`;
    return structs.get(t.struct)?.tsType ?? 'never';
  };
  const cDeclOf = (t: AnyFieldType, name: string): string => {
    if (typeof t === 'string') {
      if (t === 'bool') return `bool ${name}`;
      if (t === 'sockaddr') return `struct sb_proto_addr ${name}`;
      return `${C_INT[t]} ${name}`;
    }
    if ('string' in t) return `char ${name}[${t.string + 1}]`;
    if ('bytes' in t) return `uint8_t ${name}[${t.bytes}]`;
    if ('enum' in t) return `${enums.get(t.enum)?.cType} ${name}`;
    if ('flags' in t) return `${flags.get(t.flags)?.cType} ${name}`;
    return `struct ${structs.get(t.struct)?.cTag} ${name}`;
  };
  const typeTextOf = (t: AnyFieldType): string => {
    if (typeof t === 'string') return t;
    if ('string' in t) return `string(${t.string})`;
    if ('bytes' in t) return `bytes(${t.bytes})`;
    if ('enum' in t) return `enum ${t.enum} (${enums.get(t.enum)?.base})`;
    if ('flags' in t) return `flags ${t.flags} (${flags.get(t.flags)?.base})`;
    return `struct ${t.struct}`;
  };

  // Structs do not nest, so their own fields never look a struct up.
  for (const [name, s] of Object.entries(p.structs)) {
    structs.set(name, {
      name,
      doc: s.doc,
      cTag: `sb_proto_${name}`,
      tsType: pascal(name),
      bytes: typeBytes({ struct: name }, p) ?? 0,
      fields: fieldsOf(s.fields, 0, name, `SB_PROTO_${upper(name)}`),
    });
  }

  const repliedTo = new Set(p.messages.flatMap((m) => [...(m.replies ?? [])]));
  repliedTo.add(p.errorReply);
  const messages = p.messages.map((m: AnyMessage): MessageModel => {
    const cUpper = `SB_PROTO_${upper(m.name)}`;
    const fields = fieldsOf(m.fields, HEADER_BYTES, m.name, cUpper);
    const leaves = fields.flatMap((f) => f.leaves);
    const kind = m.replies && m.replies.length > 0 ? 'request' : repliedTo.has(m.name) ? 'reply' : 'notice';
    return {
      name: m.name,
      code: m.code,
      doc: m.doc,
      route: m.route,
      cRoute: routeConst(m.route),
      kind,
      cKind: `SB_PROTO_KIND_${upper(kind)}`,
      replies: [...(m.replies ?? [])],
      repliesText: kind === 'request' ? [...(m.replies ?? []), p.errorReply].join(', ') : '',
      cType: `SB_PROTO_MSG_${upper(m.name)}`,
      cUpper,
      cTag: `sb_proto_${m.name}`,
      tsType: pascal(m.name),
      fds: (m.fds ?? []).map((fd, index) => ({ name: fd.name, doc: fd.doc, index, cConst: `${cUpper}_FD_${upper(fd.name)}` })),
      fdNames: (m.fds ?? []).map((fd) => fd.name).join(', '),
      fields,
      leaves,
      hasFields: fields.length > 0,
      bytes: HEADER_BYTES + fields.reduce((acc, f) => acc + f.bytes, 0),
      // "name #4294967295" then " path=value" per leaf
      formatMax: m.name.length + 12 + leaves.reduce((acc, l) => acc + 2 + l.path.length + l.formatMax, 0),
    };
  });

  return {
    doc: p.doc,
    version: p.version,
    magic: hex(MAGIC),
    headerBytes: HEADER_BYTES,
    header: HEADER_FIELDS.map((h) => ({ ...h, cOffset: `SB_PROTO_HEADER_${upper(h.name)}_OFFSET` })),
    maxMessageBytes: p.maxMessageBytes,
    maxFds: p.maxFds,
    errorReply: p.errorReply,
    statuses: STATUSES.map((s, value) => ({ ...s, cConst: s.name === 'ok' ? 'SB_PROTO_OK' : `SB_PROTO_E_${upper(s.name)}`, value })),
    enums: [...enums.values()],
    flags: [...flags.values()],
    structs: [...structs.values()],
    messages,
    routes: (['shim-to-operator', 'operator-to-shim', 'port'] as const).map((name, i) => ({ name, cConst: routeConst(name), value: i + 1 })),
    formatMax: Math.max(...messages.map((m) => m.formatMax)) + 1,
    uses: Object.fromEntries(messages.flatMap((m) => m.leaves.map((l) => [l.kind, true]))),
  };
}

/** Every C identifier the model defines at file scope, to detect collisions. */
export function cIdentifiers(m: ProtocolModel): string[] {
  const ids: string[] = [];
  for (const e of m.enums) ids.push(e.cTag, ...e.values.map((v) => v.cConst));
  for (const g of m.flags) ids.push(g.cAll, ...g.bits.map((b) => b.cConst));
  for (const s of m.structs) ids.push(s.cTag);
  for (const msg of m.messages) {
    ids.push(msg.cTag, msg.cType, `${msg.cUpper}_SIZE`, `${msg.cUpper}_FDS`, ...msg.fds.map((f) => f.cConst), ...msg.leaves.map((l) => l.cOffset));
  }
  ids.push(...m.header.map((h) => h.cOffset), ...m.statuses.map((s) => s.cConst), ...m.routes.map((r) => r.cConst));
  ids.push('sb_proto_addr', 'sb_proto_msg', 'sb_proto_fault', 'sb_proto_type_info', 'sb_proto_route', 'sb_proto_status', 'sb_proto_kind', 'sb_proto_type');
  return ids;
}

/** Every TypeScript name the model defines at module scope (the template's own names included). */
export function tsIdentifiers(m: ProtocolModel): string[] {
  const ids = ['VERSION', 'MAGIC', 'HEADER', 'HEADER_BYTES', 'MAX_MESSAGE_BYTES', 'MAX_FDS', 'TYPES', 'BY_CODE', 'BY_NAME'];
  ids.push('INT_RANGE', 'UTF8', 'LONE_SURROGATE', 'AF_UNSPEC', 'AF_INET', 'AF_INET6', 'ERRNO_MAX');
  ids.push('Route', 'Kind', 'Status', 'Address', 'Msg', 'MsgType', 'TypeInfo', 'DecodeError', 'EncodeError', 'IntKind', 'Buffer');
  for (const e of m.enums) ids.push(e.tsType, e.tsTable, `${e.tsTable}_NAMES`);
  for (const g of m.flags) ids.push(g.tsType, g.tsTable, `${g.tsTable}_ALL`);
  for (const s of m.structs) ids.push(s.tsType);
  for (const msg of m.messages) ids.push(msg.tsType, `decode${msg.tsType}`, `encode${msg.tsType}`);
  return ids;
}

