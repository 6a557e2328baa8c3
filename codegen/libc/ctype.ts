/**
 * The C types the libc spec may use, parsed from the strings it writes
 * (`'const struct sockaddr *'`, `'char *const *'`) and rendered back into
 * prototypes.  Only base types that the generated files' includes declare are
 * accepted, so a typo is reported against the spec instead of failing in the
 * C compiler.
 */

/** Base types, each declared by a header the generated code includes (see model.ts). */
const INTEGER_TYPES = new Set([
  'int',
  'unsigned int',
  'long',
  'unsigned long',
  'size_t',
  'ssize_t',
  'socklen_t',
  'pid_t',
  'off_t',
  'off64_t',
  'nfds_t',
]);
const OTHER_TYPES = new Set([
  'void',
  'char',
  'sigset_t',
  'fd_set',
  'posix_spawn_file_actions_t',
  'posix_spawnattr_t',
  'struct sockaddr',
  'struct msghdr',
  'struct mmsghdr',
  'struct iovec',
  'struct pollfd',
  'struct timespec',
  'struct timeval',
  'struct epoll_event',
  'struct ifaddrs',
]);

export interface PointerLevel {
  /** `* const`: the pointer itself is const. */
  readonly isConst: boolean;
}

export interface CType {
  readonly base: string;
  readonly baseConst: boolean;
  readonly pointers: readonly PointerLevel[];
  /** `int [2]`: a parameter glibc declares as a fixed-size array (socketpair's fds). */
  readonly array?: number;
}

export type Parsed = { ok: true; type: CType } | { ok: false; error: string };

export function knownBaseTypes(): string[] {
  return [...INTEGER_TYPES, ...OTHER_TYPES];
}

/** Parses `[const] base {'*' [const]} ['[' N ']']`; anything else is an error message. */
export function parseCType(text: string): Parsed {
  let body = text.trim();
  let array: number | undefined;
  const arrayMatch = /\[\s*(\d+)\s*\]$/.exec(body);
  if (arrayMatch) {
    array = Number(arrayMatch[1]);
    if (array === 0) return { ok: false, error: `C type '${text}': an array parameter needs a size above 0` };
    body = body.slice(0, arrayMatch.index);
  }
  if (/[[\]]/.test(body)) return { ok: false, error: `C type '${text}': only a trailing '[N]' is supported` };
  const tokens = body.split(/\s+|(?=\*)|(?<=\*)/).filter((t) => t.length > 0);
  let i = 0;
  let baseConst = false;
  if (tokens[i] === 'const') {
    baseConst = true;
    i++;
  }
  const words: string[] = [];
  while (i < tokens.length && tokens[i] !== '*') words.push(tokens[i++]!);
  const base = words.join(' ');
  if (base === '') return { ok: false, error: `C type '${text}' has no base type` };
  if (words.includes('const') || words.includes('restrict') || words.includes('volatile')) {
    return { ok: false, error: `C type '${text}': write qualifiers as 'const T *' / 'T *const' (no restrict, no volatile)` };
  }
  if (!INTEGER_TYPES.has(base) && !OTHER_TYPES.has(base)) {
    return { ok: false, error: `C type '${text}': unknown base type '${base}' (known: ${knownBaseTypes().join(', ')})` };
  }
  const pointers: PointerLevel[] = [];
  while (i < tokens.length) {
    if (tokens[i] !== '*') return { ok: false, error: `C type '${text}': unexpected '${tokens[i]}'` };
    i++;
    let isConst = false;
    if (tokens[i] === 'const') {
      isConst = true;
      i++;
    }
    pointers.push({ isConst });
  }
  if (base === 'void' && pointers.length === 0 && (baseConst || array !== undefined)) {
    return { ok: false, error: `C type '${text}': 'void' is not a value type` };
  }
  return { ok: true, type: array === undefined ? { base, baseConst, pointers } : { base, baseConst, pointers, array } };
}

export function isInteger(t: CType): boolean {
  return t.pointers.length === 0 && t.array === undefined && INTEGER_TYPES.has(t.base);
}

export function isVoid(t: CType): boolean {
  return t.pointers.length === 0 && t.array === undefined && t.base === 'void';
}

/** Renders the type, with `name` as declarator when given: `char *const *argv`, `int sv[2]`. */
export function renderCType(t: CType, name = ''): string {
  const head = `${t.baseConst ? 'const ' : ''}${t.base}`;
  const suffix = t.array === undefined ? '' : name ? `[${t.array}]` : ` [${t.array}]`;
  if (t.pointers.length === 0) return `${name ? `${head} ${name}` : head}${suffix}`;
  const stars = t.pointers.map((p) => (p.isConst ? '*const ' : '*')).join('');
  return `${`${head} ${stars}${name}`.trimEnd()}${suffix}`;
}

/** The same type with its written spelling normalised, for comparisons. */
export function sameType(a: CType, b: CType): boolean {
  return renderCType(a) === renderCType(b);
}

/**
 * glibc declares sockaddr parameters as transparent unions under _GNU_SOURCE
 * (`__SOCKADDR_ARG`), and a definition must repeat the declaration's type: the
 * exported wrappers use these names, and SB_SOCKADDR_PTR() takes the pointer
 * back out (see the sb_interpose.c template).
 */
export function sockaddrArg(t: CType): '__SOCKADDR_ARG' | '__CONST_SOCKADDR_ARG' | undefined {
  if (t.base !== 'struct sockaddr' || t.array !== undefined || t.pointers.length !== 1 || t.pointers[0]!.isConst) return undefined;
  return t.baseConst ? '__CONST_SOCKADDR_ARG' : '__SOCKADDR_ARG';
}
