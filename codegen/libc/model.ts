/**
 * Turns a checked libc spec into what the templates print: one record per
 * real libc symbol the shim resolves, per runtime entry point, and per
 * exported symbol, with C parameter lists already rendered.
 */
import type { Fortify, Libc } from '../../specs/language/libc.ts';
import { parseCType, renderCType, sockaddrArg, type CType } from './ctype.ts';
import { compareGlibcVersions } from './version.ts';

/** A libc symbol the shim resolves with dlsym(RTLD_NEXT): one slot of the real-symbol table. */
export interface RealSymbol {
  readonly name: string;
  readonly ret: string;
  /** `(int fd, void *buf, size_t n)`, or with `...` for variadic functions, `(void)` for none. */
  readonly params: string;
  /** `(fd, buf, n)`. */
  readonly args: string;
  readonly version: string;
  readonly need: 'SB_REQUIRED' | 'SB_OPTIONAL';
  /** plain: called as libc_<name>(); va: libc_<name>() rendered per variadic kind; jump: only jumped to. */
  readonly kind: 'plain' | 'va' | 'jump';
}

/** A runtime entry point sb_<name>(), written by hand in shim/src. */
export interface Entry {
  readonly name: string;
  readonly ret: string;
  readonly params: string;
  readonly args: string;
  readonly group: string;
  readonly doc: string;
}

/** One exported symbol of libswitchboard.so and the C it compiles from. */
export interface Export {
  readonly name: string;
  readonly base: string;
  readonly version: string;
  readonly group: string;
  readonly kind: 'plain' | 'fortify' | 'by-command' | 'word' | 'words' | 'argv-list' | 'tail-jump';
  /** `int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)`; empty for tail-jump stubs. */
  readonly signature: string;
  /** The body's statements, one per line (without braces). */
  readonly body: readonly string[];
}

/** A function of the shim's own public API: exported, declared in a <switchboard/...> header. */
export interface ApiExport {
  readonly name: string;
  readonly ret: string;
  /** `(int fd, size_t len)`, exactly as the spec writes the types. */
  readonly params: readonly string[];
  readonly header: string;
  readonly doc: string;
}

export interface CommandClass {
  readonly kind: 'SB_VA_NONE' | 'SB_VA_INT' | 'SB_VA_POINTER';
  readonly commands: readonly string[];
}

/** A variadic function with one optional argument: its entry receives it as `void *arg`. */
export interface OneArgVariadic {
  readonly name: string;
  readonly ret: string;
  /** Named params plus `void *arg`, e.g. `(int fd, int cmd, void *arg)`. */
  readonly entryParams: string;
  /** The real function's type, e.g. `int (*)(int, int, ...)`, and its parameter types `int, int, ...`. */
  readonly realType: string;
  readonly realParams: string;
  /** Named args, e.g. `fd, cmd`. */
  readonly namedArgs: string;
  /** The optional arguments as the entry names them, e.g. `arg` (or `arg1, arg2` for `words`). */
  readonly optionalArgs: string;
  /** by-command only: the command parameter and its classes. */
  readonly command?: string;
  /** by-command only: the command parameter declared, e.g. `int cmd`. */
  readonly commandDecl?: string;
  readonly classes?: readonly CommandClass[];
  readonly otherwise?: 'SB_VA_INT' | 'SB_VA_POINTER';
}

export interface TailJump {
  readonly name: string;
  readonly ret: string;
  readonly symbols: readonly string[];
  readonly doc: string;
}

export interface LibcModel {
  readonly doc: string;
  readonly baseline: string;
  readonly headers: readonly string[];
  readonly features: readonly string[];
  readonly reals: readonly RealSymbol[];
  readonly entries: readonly Entry[];
  readonly exports: readonly Export[];
  readonly oneArgVariadics: readonly OneArgVariadic[];
  readonly tailJumps: readonly TailJump[];
  readonly excluded: readonly { name: string; why: string }[];
  readonly api: readonly ApiExport[];
  /** The public headers the API functions are declared in, sorted. */
  readonly apiHeaders: readonly string[];
}

interface Typed {
  readonly name: string;
  readonly type: CType;
}

function typeOf(text: string): CType {
  const t = parseCType(text);
  if (!t.ok) throw new Error(`libc model: ${t.error} (the checker should have reported it)`);
  return t.type;
}

const paramList = (ps: readonly Typed[], variadic = false): string => {
  const parts = ps.map((p) => renderCType(p.type, p.name));
  if (variadic) parts.push('...');
  return `(${parts.length ? parts.join(', ') : 'void'})`;
};
const argList = (ps: readonly Typed[]): string => `(${ps.map((p) => p.name).join(', ')})`;

/** Exported parameters repeat glibc's declaration: sockaddr pointers are transparent unions. */
const exportParamList = (ps: readonly Typed[], variadic = false): string => {
  const parts = ps.map((p) => {
    const u = sockaddrArg(p.type);
    return u ? `${u} ${p.name}` : renderCType(p.type, p.name);
  });
  if (variadic) parts.push('...');
  return `(${parts.length ? parts.join(', ') : 'void'})`;
};
const exportArgList = (ps: readonly Typed[]): string =>
  `(${ps.map((p) => (sockaddrArg(p.type) ? `SB_SOCKADDR_PTR(${p.name})` : p.name)).join(', ')})`;

function fortifyParams(f: Typed[], v: Fortify): Typed[] {
  const ps = [...f];
  ps.splice(v.sizeAt, 0, { name: v.sizeName, type: typeOf('size_t') });
  return ps;
}

function fortifyCheck(v: Fortify): string {
  if (v.unit === 'bytes') return `${v.bounds} > ${v.sizeName}`;
  return `${v.sizeName} / sizeof(*${v.unit.elementsOf}) < ${v.bounds}`;
}

export function buildModel(libc: Libc): LibcModel {
  const need = (version: string): RealSymbol['need'] =>
    compareGlibcVersions(version, libc.baseline) > 0 ? 'SB_OPTIONAL' : 'SB_REQUIRED';
  const reals: RealSymbol[] = [];
  const entries: Entry[] = [];
  const exports: Export[] = [];
  const oneArgVariadics: OneArgVariadic[] = [];
  const tailJumps: TailJump[] = [];

  for (const f of libc.functions) {
    const ret = renderCType(typeOf(f.returns));
    const ps: Typed[] = f.params.map((p) => ({ name: p.name, type: typeOf(p.type) }));
    const symbols = [f.name, ...(f.aliases ?? []).map((a) => a.name)];
    const versionOf = (s: string) => (s === f.name ? f.version : (f.aliases ?? []).find((a) => a.name === s)!.version);
    const exportAs = (kind: Export['kind'], signature: (s: string) => string, body: readonly string[]) => {
      for (const s of symbols) {
        exports.push({ name: s, base: f.name, version: versionOf(s), group: f.group, kind, signature: signature(s), body });
      }
    };
    const entry = (params: string, args: string) =>
      entries.push({ name: f.name, ret, params, args, group: f.group, doc: f.doc });

    if (f.entry === 'tail-jump') {
      reals.push({ name: f.name, ret, params: '(void)', args: '()', version: f.version, need: need(f.version), kind: 'jump' });
      tailJumps.push({ name: f.name, ret, symbols, doc: f.doc });
      exportAs('tail-jump', () => '', []);
      continue;
    }
    const v = f.variadic;
    if (v?.kind === 'argv-list') {
      exportAs('argv-list', (s) => `${ret} ${s}${exportParamList(ps, true)}`, argvListBody(ps, v.via, v.envp));
      continue;
    }
    if (v?.kind === 'by-command' || v?.kind === 'word' || v?.kind === 'words') {
      const optional =
        v.kind === 'words'
          ? Array.from({ length: v.count }, (_, i) => ({ name: `arg${i + 1}`, type: typeOf('unsigned long') }))
          : [{ name: 'arg', type: typeOf('void *') }];
      const withArg = [...ps, ...optional];
      reals.push({ name: f.name, ret, params: paramList(ps, true), args: '', version: f.version, need: need(f.version), kind: 'va' });
      entry(paramList(withArg), argList(withArg));
      const one: OneArgVariadic = {
        name: f.name,
        ret,
        entryParams: paramList(withArg),
        realType: `${ret} (*)(${[...ps.map((p) => renderCType(p.type)), '...'].join(', ')})`,
        realParams: [...ps.map((p) => renderCType(p.type)), '...'].join(', '),
        namedArgs: ps.map((p) => p.name).join(', '),
        optionalArgs: optional.map((p) => p.name).join(', '),
      };
      if (v.kind === 'by-command') {
        oneArgVariadics.push({
          ...one,
          command: ps[v.command]!.name,
          commandDecl: renderCType(ps[v.command]!.type, ps[v.command]!.name),
          classes: [
            { kind: 'SB_VA_NONE', commands: v.none },
            { kind: 'SB_VA_INT', commands: v.int },
            { kind: 'SB_VA_POINTER', commands: v.pointer },
          ],
          otherwise: v.otherwise === 'int' ? 'SB_VA_INT' : 'SB_VA_POINTER',
        });
      } else {
        oneArgVariadics.push(one);
      }
      const last = ps[ps.length - 1]!.name;
      const read =
        v.kind === 'word'
          ? [`void *arg = va_arg(ap, void *); /* ${v.why} */`]
          : v.kind === 'words'
            ? [`/* ${v.why} */`, ...optional.map((o) => `unsigned long ${o.name} = va_arg(ap, unsigned long);`)]
            : [`void *arg = sb_va_read_arg(sb_${f.name}_arg_kind(${ps[v.command]!.name}), &ap);`];
      exportAs(v.kind, (s) => `${ret} ${s}${exportParamList(ps, true)}`, [
        'va_list ap;',
        `va_start(ap, ${last});`,
        ...read,
        'va_end(ap);',
        `return sb_${f.name}(${[...ps.map((p) => p.name), ...optional.map((o) => o.name)].join(', ')});`,
      ]);
      continue;
    }

    reals.push({ name: f.name, ret, params: paramList(ps), args: argList(ps), version: f.version, need: need(f.version), kind: 'plain' });
    entry(paramList(ps), argList(ps));
    exportAs('plain', (s) => `${ret} ${s}${exportParamList(ps)}`, [`return sb_${f.name}${exportArgList(ps)};`]);

    for (const chk of f.fortify ?? []) {
      const cps = fortifyParams(ps, chk);
      reals.push({ name: chk.name, ret, params: paramList(cps), args: argList(cps), version: chk.version, need: need(chk.version), kind: 'plain' });
      exports.push({
        name: chk.name,
        base: f.name,
        version: chk.version,
        group: f.group,
        kind: 'fortify',
        signature: `${ret} ${chk.name}${exportParamList(cps)}`,
        body: [
          `if (${fortifyCheck(chk)}) {`,
          '    /* Overflow: let glibc report it exactly as it would have (it aborts). */',
          `    return libc_${chk.name}${exportArgList(cps)};`,
          '}',
          `return sb_${f.name}${exportArgList(ps)};`,
        ],
      });
    }
  }

  const headers = [...new Set(libc.functions.map((f) => f.header))].sort();
  const features = [...new Set(libc.functions.flatMap((f) => (f.feature ? [f.feature] : [])))].sort();
  return {
    doc: libc.doc,
    baseline: libc.baseline,
    headers,
    features,
    reals,
    entries,
    exports,
    oneArgVariadics,
    tailJumps,
    excluded: libc.excluded.map((e) => ({ name: e.name, why: e.why })),
    api: (libc.api ?? []).map((f) => ({
      name: f.name,
      ret: renderCType(typeOf(f.returns)),
      params: f.params.map((p) => renderCType(typeOf(p.type), p.name)),
      header: f.header,
      doc: f.doc,
    })),
    apiHeaders: [...new Set((libc.api ?? []).map((f) => f.header))].sort(),
  };
}

/**
 * execl-style list → argv on the stack → the runtime entry of `via`.  A VLA,
 * as in glibc's own execl: malloc is not safe after vfork, and this runs in
 * vfork children all the time.
 */
function argvListBody(ps: readonly Typed[], via: string, envp: boolean): string[] {
  const first = ps[ps.length - 1]!.name;
  const fixed = ps.slice(0, -1).map((p) => p.name);
  return [
    '/* Count the arguments up to the null pointer (glibc caps the count the same way). */',
    'size_t argc = 0;',
    'va_list ap;',
    `va_start(ap, ${first});`,
    `for (const char *a = ${first}; a != NULL; a = va_arg(ap, const char *)) {`,
    '    if (++argc >= (size_t)INT_MAX) {',
    '        va_end(ap);',
    '        errno = E2BIG;',
    '        return -1;',
    '    }',
    '}',
    ...(envp ? ['char *const *envp = va_arg(ap, char *const *);'] : []),
    'va_end(ap);',
    '',
    'const char *argv[argc + 1];',
    `va_start(ap, ${first});`,
    'for (size_t i = 0; i < argc; i++)',
    `    argv[i] = i == 0 ? ${first} : va_arg(ap, const char *);`,
    'argv[argc] = NULL;',
    'va_end(ap);',
    `return sb_${via}(${[...fixed, '(char *const *)argv', ...(envp ? ['envp'] : [])].join(', ')});`,
  ];
}
