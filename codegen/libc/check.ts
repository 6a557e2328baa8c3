/**
 * Checks the libc spec beyond what TypeScript can: every problem names the
 * function and points at the line in specs/libc.ts that caused it.
 */
import type { Locator, Problem, Where } from '../framework.ts';
import type { Alias, ApiFunction, FdUse, Fortify, Libc, LibcFunction, Param } from '../../specs/language/libc.ts';
import { isInteger, isVoid, parseCType, renderCType, type CType } from './ctype.ts';
import { compareGlibcVersions, parseGlibcVersion } from './version.ts';

export const GROUPS = ['socket setup', 'I/O', 'readiness', 'fd management', 'process'] as const;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MACRO = /^[A-Z][A-Z0-9_]*$/;
const C_KEYWORDS = new Set(
  ('auto break case char const continue default do double else enum extern float for goto if inline int long ' +
    'register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while ' +
    '_Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local').split(' '),
);

/** What each fd role requires of its parameter's C type. */
const FD_ROLE_TYPES: Record<FdUse['as'], { accepts: (t: CType) => boolean; expect: string }> = {
  fd: { accepts: (t) => isInteger(t) && /^(unsigned )?int$/.test(t.base), expect: "'int'" },
  'new-fd': { accepts: (t) => isInteger(t) && /^(unsigned )?int$/.test(t.base), expect: "'int'" },
  'fd-range': { accepts: (t) => isInteger(t) && /^(unsigned )?int$/.test(t.base), expect: "'unsigned int'" },
  'fd-pair': { accepts: (t) => t.base === 'int' && t.pointers.length === 0 && t.array === 2, expect: "'int [2]'" },
  'pollfd-array': { accepts: (t) => t.base === 'struct pollfd' && t.pointers.length === 1, expect: "'struct pollfd *'" },
  'fd-set': { accepts: (t) => t.base === 'fd_set' && t.pointers.length === 1, expect: "'fd_set *'" },
  'scm-rights': { accepts: (t) => t.base === 'struct msghdr' && t.pointers.length === 1, expect: "'struct msghdr *'" },
  'mmsg-rights': { accepts: (t) => t.base === 'struct mmsghdr' && t.pointers.length === 1, expect: "'struct mmsghdr *'" },
};
const COUNTED_ROLES = new Set<FdUse['as']>(['pollfd-array', 'fd-set', 'mmsg-rights']);

const FALLBACK_WHERE: Where = { file: 'specs/libc.ts', line: 1, column: 1 };

class Reporter {
  readonly problems: Problem[] = [];
  constructor(private readonly locator: Locator | undefined) {}
  where(path: readonly (string | number)[]): Where {
    return this.locator ? this.locator.at(path.map(String)) : FALLBACK_WHERE;
  }
  report(path: readonly (string | number)[], subject: string, message: string): void {
    this.problems.push({ where: this.where(path), subject, message });
  }
}

/** Checks the evaluated spec; `locator` is `ctx.specs.locators.get('libc')`. */
export function checkLibc(spec: unknown, locator: Locator | undefined): Problem[] {
  const r = new Reporter(locator);
  if (!spec || typeof spec !== 'object') {
    r.report([], 'libc', 'specs/index.ts must export `libc`, made with defineLibc({...})');
    return r.problems;
  }
  const libc = spec as Libc;
  if (!parseGlibcVersion(String(libc.baseline))) {
    r.report(['baseline'], 'libc', `baseline '${libc.baseline}' is not a glibc version like GLIBC_2.28`);
  }
  const functions = Array.isArray(libc.functions) ? libc.functions : [];
  if (functions.length === 0) r.report(['functions'], 'libc', 'lists no functions');

  // Every exported symbol, to catch one name claimed twice (function, alias or fortify variant).
  const symbols = new Map<string, string>(); // symbol → what claimed it
  const claim = (path: (string | number)[], fn: string, symbol: string, what: string) => {
    const earlier = symbols.get(symbol);
    if (earlier !== undefined) r.report(path, fn, `symbol '${symbol}' (${what}) is already interposed as ${earlier}`);
    else symbols.set(symbol, what);
  };
  const byName = new Map<string, LibcFunction>();
  functions.forEach((f) => {
    if (typeof f?.name === 'string' && !byName.has(f.name)) byName.set(f.name, f);
  });

  functions.forEach((f, i) => {
    const at = (...rest: (string | number)[]) => ['functions', i, ...rest];
    const fn = typeof f?.name === 'string' && f.name !== '' ? f.name : `functions[${i}]`;
    if (!IDENT.test(fn)) r.report(at('name'), fn, `function name '${fn}' is not a C identifier`);
    claim(at('name'), fn, fn, `function '${fn}'`);
    if (!(GROUPS as readonly string[]).includes(f.group)) {
      r.report(at('group'), fn, `function '${fn}' has unknown group '${f.group}' (expected one of: ${GROUPS.join(', ')})`);
    }
    if (typeof f.doc !== 'string' || f.doc.trim() === '') r.report(at('doc'), fn, `function '${fn}' needs a doc saying why the shim interposes it`);
    if (!/^<[A-Za-z0-9_./-]+\.h>$/.test(String(f.header))) r.report(at('header'), fn, `function '${fn}': header '${f.header}' is not like <sys/socket.h>`);
    checkVersion(r, at('version'), fn, f.version, `function '${fn}'`);

    const ret = parseCType(String(f.returns));
    if (!ret.ok) r.report(at('returns'), fn, `function '${fn}' return type: ${ret.error}`);
    const params = checkParams(r, f, fn, at);
    if (ret.ok && f.returnsFd && !(isInteger(ret.type) && ret.type.base === 'int')) {
      r.report(at('returnsFd'), fn, `function '${fn}' returns an fd but its return type is '${f.returns}', not 'int'`);
    }
    const optional = parseGlibcVersion(String(f.version)) && compareGlibcVersions(String(f.version), String(libc.baseline)) > 0;
    if (optional && ret.ok && !isInteger(ret.type)) {
      r.report(at('returns'), fn, `function '${fn}' is newer than the baseline ${libc.baseline}, so it must return an integer type (its wrapper fails with -1/ENOSYS when glibc lacks it), not '${f.returns}'`);
    }
    checkFds(r, f, fn, params, at);
    checkVariadic(r, f, fn, params, byName, at);
    if (f.entry !== undefined) {
      if (f.entry !== 'tail-jump') r.report(at('entry'), fn, `function '${fn}' has unknown entry '${f.entry}' (only 'tail-jump')`);
      else {
        if ((f.params ?? []).length > 0) r.report(at('params'), fn, `tail-jump function '${fn}' must take no parameters (the stub does not preserve argument registers)`);
        if (f.variadic) r.report(at('variadic'), fn, `tail-jump function '${fn}' cannot be variadic`);
        if (f.fortify?.length) r.report(at('fortify'), fn, `tail-jump function '${fn}' cannot have fortify variants`);
        if (ret.ok && isVoid(ret.type)) r.report(at('returns'), fn, `tail-jump function '${fn}' must return a value`);
        if (optional) r.report(at('version'), fn, `tail-jump function '${fn}' must be at most the baseline ${libc.baseline} (its stub cannot fail with ENOSYS, so the real symbol is required)`);
      }
    }
    const aliases: readonly Alias[] = f.aliases ?? [];
    aliases.forEach((a, k) => {
      const path = at('aliases', k);
      if (!IDENT.test(String(a.name))) r.report([...path, 'name'], fn, `alias '${a.name}' of '${fn}' is not a C identifier`);
      if (a.name === fn) r.report([...path, 'name'], fn, `alias '${a.name}' of '${fn}' repeats the function's own name`);
      claim([...path, 'name'], fn, a.name, `alias of '${fn}'`);
      checkVersion(r, [...path, 'version'], fn, a.version, `alias '${a.name}' of '${fn}'`);
    });
    const fortify: readonly Fortify[] = f.fortify ?? [];
    fortify.forEach((v, k) => {
      const path = at('fortify', k);
      claim([...path, 'name'], fn, v.name, `fortify variant of '${fn}'`);
      if (v.name !== `__${fn}_chk`) {
        r.report([...path, 'name'], fn, `fortify variant '${v.name}' of '${fn}' must be named '__${fn}_chk'`);
      }
      checkVersion(r, [...path, 'version'], fn, v.version, `fortify variant '${v.name}' of '${fn}'`);
      if (f.variadic) r.report([...path, 'name'], fn, `variadic function '${fn}' cannot have a fortify variant`);
      const n = (f.params ?? []).length;
      if (!Number.isInteger(v.sizeAt) || v.sizeAt < 0 || v.sizeAt > n) {
        r.report([...path, 'sizeAt'], fn, `fortify variant '${v.name}' of '${fn}': sizeAt ${v.sizeAt} is outside 0..${n} (it inserts into the ${n} parameters)`);
      }
      if (!IDENT.test(String(v.sizeName)) || params.some((p) => p.name === v.sizeName)) {
        r.report([...path, 'sizeName'], fn, `fortify variant '${v.name}' of '${fn}': size parameter '${v.sizeName}' must be a new C identifier`);
      }
      const bounded = params.find((p) => p.name === v.bounds);
      if (!bounded) r.report([...path, 'bounds'], fn, `fortify variant '${v.name}' of '${fn}' bounds '${v.bounds}', which is not a parameter of '${fn}'`);
      else if (bounded.type && !isInteger(bounded.type)) r.report([...path, 'bounds'], fn, `fortify variant '${v.name}' of '${fn}' bounds '${v.bounds}', which is not an integer`);
      const unit = v.unit;
      if (typeof unit === 'object' && unit !== null) {
        const of = params.find((p) => p.name === unit.elementsOf);
        if (!of) r.report([...path, 'unit'], fn, `fortify variant '${v.name}' of '${fn}' counts elements of '${unit.elementsOf}', which is not a parameter of '${fn}'`);
        else if (of.type && (of.type.pointers.length === 0 || (of.type.base === 'void' && of.type.pointers.length === 1))) {
          r.report([...path, 'unit'], fn, `fortify variant '${v.name}' of '${fn}' counts elements of '${unit.elementsOf}', which is not a typed pointer`);
        }
      } else if (v.unit !== 'bytes') {
        r.report([...path, 'unit'], fn, `fortify variant '${v.name}' of '${fn}': unit must be 'bytes' or { elementsOf: <param> }`);
      }
    });
  });

  const excludedNames = new Set<string>();
  (Array.isArray(libc.excluded) ? libc.excluded : []).forEach((e, k) => {
    excludedNames.add(e.name);
    if (symbols.has(e.name)) {
      r.report(['excluded', k, 'name'], e.name, `'${e.name}' is both excluded and interposed (as ${symbols.get(e.name)})`);
    }
    if (typeof e.why !== 'string' || e.why.trim() === '') r.report(['excluded', k, 'why'], e.name, `excluded '${e.name}' needs a reason`);
  });
  checkApi(r, libc, byName, excludedNames, claim);
  return r.problems;
}

/**
 * The shim's own public API: C identifiers starting with `sb_`, declared in a
 * <switchboard/...> header, with types codegen can render, and no name that a
 * libc symbol, another API function or a runtime entry point (`sb_<libc name>`)
 * already uses.
 */
function checkApi(
  r: Reporter,
  libc: Libc,
  byName: ReadonlyMap<string, LibcFunction>,
  excluded: ReadonlySet<string>,
  claim: (path: (string | number)[], fn: string, symbol: string, what: string) => void,
): void {
  if (!Array.isArray(libc.api)) {
    r.report(['api'], 'libc', 'must list the shim\'s own public API in `api` (an empty list when there is none)');
    return;
  }
  libc.api.forEach((f: ApiFunction, i) => {
    const at = (...rest: (string | number)[]) => ['api', i, ...rest];
    const fn = typeof f?.name === 'string' && f.name !== '' ? f.name : `api[${i}]`;
    if (!IDENT.test(fn)) r.report(at('name'), fn, `API function name '${fn}' is not a C identifier`);
    else if (!fn.startsWith('sb_')) {
      r.report(at('name'), fn, `API function '${fn}' must start with 'sb_' (it shares the program's global namespace)`);
    }
    const entryOf = fn.startsWith('sb_') ? byName.get(fn.slice(3)) : undefined;
    if (entryOf) r.report(at('name'), fn, `API function '${fn}' is the name of the runtime entry point of '${entryOf.name}'`);
    if (excluded.has(fn)) r.report(at('name'), fn, `API function '${fn}' is also listed as excluded`);
    claim(at('name'), fn, fn, `API function '${fn}'`);
    if (typeof f.doc !== 'string' || f.doc.trim() === '') r.report(at('doc'), fn, `API function '${fn}' needs a doc saying what it does`);
    if (!/^<switchboard\/[A-Za-z0-9_./-]+\.h>$/.test(String(f.header))) {
      r.report(at('header'), fn, `API function '${fn}': header '${f.header}' is not a public header like <switchboard/zerocopy.h>`);
    }
    const ret = parseCType(String(f.returns));
    if (!ret.ok) r.report(at('returns'), fn, `API function '${fn}' return type: ${ret.error}`);
    checkParamList(r, f.params, fn, at, 'API function');
  });
}

function checkVersion(r: Reporter, path: (string | number)[], fn: string, version: unknown, what: string): void {
  if (!parseGlibcVersion(String(version))) {
    r.report(path, fn, `${what}: version '${String(version)}' is not a glibc symbol version like GLIBC_2.2.5`);
  }
}

interface CheckedParam {
  readonly name: string;
  readonly type: CType | undefined;
}

function checkParams(
  r: Reporter,
  f: LibcFunction,
  fn: string,
  at: (...rest: (string | number)[]) => (string | number)[],
): CheckedParam[] {
  return checkParamList(r, f.params, fn, at, 'function');
}

function checkParamList(
  r: Reporter,
  list: readonly Param[] | undefined,
  fn: string,
  at: (...rest: (string | number)[]) => (string | number)[],
  what: string,
): CheckedParam[] {
  const seen = new Set<string>();
  const params: readonly Param[] = Array.isArray(list) ? list : [];
  return params.map((p, j) => {
    const name = String(p?.name);
    if (!IDENT.test(name) || C_KEYWORDS.has(name) || name.startsWith('sb_')) {
      r.report(at('params', j, 'name'), fn, `${what} '${fn}': parameter name '${name}' is not a usable C identifier`);
    }
    if (seen.has(name)) r.report(at('params', j, 'name'), fn, `${what} '${fn}' has two parameters named '${name}'`);
    seen.add(name);
    const t = parseCType(String(p?.type));
    if (!t.ok) {
      r.report(at('params', j, 'type'), fn, `${what} '${fn}', parameter '${name}': ${t.error}`);
      return { name, type: undefined };
    }
    if (isVoid(t.type)) r.report(at('params', j, 'type'), fn, `${what} '${fn}', parameter '${name}' cannot be 'void'`);
    return { name, type: t.type };
  });
}

function checkFds(
  r: Reporter,
  f: LibcFunction,
  fn: string,
  params: readonly CheckedParam[],
  at: (...rest: (string | number)[]) => (string | number)[],
): void {
  (f.fds ?? []).forEach((use, k) => {
    const path = at('fds', k);
    const role = FD_ROLE_TYPES[use.as];
    if (!role) {
      r.report([...path, 'as'], fn, `function '${fn}': unknown fd role '${String(use.as)}'`);
      return;
    }
    const p = Number.isInteger(use.param) ? params[use.param] : undefined;
    if (!p) {
      r.report([...path, 'param'], fn, `function '${fn}': fd parameter index ${use.param} does not exist (it has ${params.length} parameters, 0..${params.length - 1})`);
    } else if (p.type && !role.accepts(p.type)) {
      r.report([...path, 'param'], fn, `function '${fn}': parameter ${use.param} ('${p.name}', ${renderCType(p.type)}) cannot be an '${use.as}'; expected ${role.expect}`);
    }
    const count = 'count' in use ? use.count : undefined;
    if (COUNTED_ROLES.has(use.as)) {
      const c = count !== undefined && Number.isInteger(count) ? params[count] : undefined;
      if (!c) r.report([...path, 'count'], fn, `function '${fn}': count index ${String(count)} of the '${use.as}' does not exist`);
      else if (c.type && !isInteger(c.type)) r.report([...path, 'count'], fn, `function '${fn}': count parameter '${c.name}' of the '${use.as}' is not an integer`);
    }
  });
}

function checkVariadic(
  r: Reporter,
  f: LibcFunction,
  fn: string,
  params: readonly CheckedParam[],
  byName: ReadonlyMap<string, LibcFunction>,
  at: (...rest: (string | number)[]) => (string | number)[],
): void {
  const v = f.variadic;
  if (!v) return;
  const path = at('variadic');
  if (params.length === 0) r.report(path, fn, `variadic function '${fn}' needs at least one named parameter before '...'`);
  if (typeof v.why !== 'string' || v.why.trim() === '') r.report([...path, 'why'], fn, `variadic function '${fn}' must say why its '...' is read this way`);
  switch (v.kind) {
    case 'word':
      return;
    case 'words':
      if (!Number.isInteger(v.count) || v.count < 1 || v.count > 6)
        r.report([...path, 'count'], fn, `function '${fn}': 'words' takes 1 to 6 optional arguments, not ${v.count}`);
      return;
    case 'by-command': {
      const c = Number.isInteger(v.command) ? params[v.command] : undefined;
      if (!c) r.report([...path, 'command'], fn, `function '${fn}': command parameter index ${v.command} does not exist`);
      else if (c.type && !isInteger(c.type)) r.report([...path, 'command'], fn, `function '${fn}': command parameter '${c.name}' is not an integer`);
      const seen = new Map<string, string>();
      for (const cls of ['none', 'int', 'pointer'] as const) {
        (v[cls] ?? []).forEach((cmd, k) => {
          if (!MACRO.test(cmd)) r.report([...path, cls, k], fn, `function '${fn}': command '${cmd}' is not a macro name`);
          const earlier = seen.get(cmd);
          if (earlier) r.report([...path, cls, k], fn, `function '${fn}': command '${cmd}' is listed as both '${earlier}' and '${cls}'`);
          seen.set(cmd, cls);
        });
      }
      if (v.otherwise !== 'int' && v.otherwise !== 'pointer') r.report([...path, 'otherwise'], fn, `function '${fn}': otherwise must be 'int' or 'pointer'`);
      return;
    }
    case 'argv-list': {
      const last = params[params.length - 1];
      if (last?.type && renderCType(last.type) !== 'const char *') {
        r.report(path, fn, `function '${fn}': an argv-list starts at the last named parameter, which must be 'const char *' (it is '${renderCType(last.type)}')`);
      }
      const via = byName.get(v.via);
      if (!via) {
        r.report([...path, 'via'], fn, `function '${fn}' builds an argv for '${v.via}', which is not a listed function`);
        return;
      }
      if (via.variadic || via.entry) {
        r.report([...path, 'via'], fn, `function '${fn}' builds an argv for '${v.via}', which must be a plain (non-variadic) function`);
        return;
      }
      // via takes the named parameters before the list, then argv, then envp when the list carries one.
      const want = [...params.slice(0, -1).map((p) => (p.type ? renderCType(p.type) : '?')), 'char *const *'];
      if (v.envp) want.push('char *const *');
      const got = (via.params ?? []).map((p) => {
        const t = parseCType(String(p.type));
        return t.ok ? renderCType(t.type) : '?';
      });
      if (want.join(', ') !== got.join(', ')) {
        r.report([...path, 'via'], fn, `function '${fn}' calls '${v.via}' with (${want.join(', ')}), but '${v.via}' takes (${got.join(', ')})`);
      }
      return;
    }
    default:
      r.report([...path, 'kind'], fn, `function '${fn}': unknown variadic kind '${(v as { kind: string }).kind}'`);
  }
}
