/**
 * The libc-surface language: which libc functions the shim interposes, with
 * their C signatures, which arguments are file descriptors, and the extra
 * symbols (fortify `__*_chk` variants, `__`/64-bit aliases) under which glibc
 * exports the same operation.
 *
 * The compiler checks the shape; `codegen/libc/check.ts` checks the rest
 * (names unique, fd and count indexes exist, C types renderable, fortify
 * names, variadic kinds) and reports problems with file, line and function.
 * `codegen/libc/` renders the shim's interposition layer from it: the
 * real-symbol table, the exported wrappers, the export map, which also lists
 * the shim's own public API (see docs/libc-surface.md).
 */

/** Why the shim cares about a function; also how docs and tests group them. */
export type Group = 'socket setup' | 'I/O' | 'readiness' | 'fd management' | 'process';

/** A glibc symbol version as `nm -D` prints it, e.g. `GLIBC_2.2.5`. */
export type GlibcVersion = `GLIBC_2.${string}`;

/**
 * A C type as it appears in a prototype, written with plain pointers:
 * `'int'`, `'const struct sockaddr *'`, `'char *const *'`.  codegen parses it
 * against the base types it knows (see codegen/libc/ctype.ts); parameter
 * names never go here.
 */
export type CType = string;

export interface Param {
  readonly name: string;
  readonly type: CType;
}

/**
 * A parameter that carries file descriptors.  `param` and `count` are
 * 0-based indexes into the function's `params`.
 *  - `fd`:           an fd the call operates on;
 *  - `new-fd`:       an fd number the call (re)defines (dup2/dup3's newfd);
 *  - `fd-range`:     an inclusive bound of an fd range (close_range);
 *  - `fd-pair`:      an `int[2]` the call fills with two new fds (socketpair);
 *  - `pollfd-array`: `struct pollfd[count]`;
 *  - `fd-set`:       an `fd_set` whose first `count` bits name fds (select);
 *  - `scm-rights`:   a message whose control data may carry fds (SCM_RIGHTS);
 *  - `mmsg-rights`:  an array of `count` messages that may carry fds.
 */
export type FdUse =
  | { readonly param: number; readonly as: 'fd' | 'new-fd' | 'fd-range' | 'fd-pair' | 'scm-rights' }
  | { readonly param: number; readonly as: 'pollfd-array' | 'fd-set' | 'mmsg-rights'; readonly count: number };

/**
 * How a variadic function's `...` is read and forwarded.
 *  - `by-command`: one optional argument whose C type depends on the command
 *    parameter (fcntl): lists the commands that take nothing, an int, or a
 *    pointer; any other command is read as `otherwise` (glibc itself reads
 *    `void *`).
 *  - `word`: one optional pointer-sized argument, read as `void *` exactly as
 *    glibc's own implementation reads it (ioctl).
 *  - `words`: `count` optional arguments, each read as `unsigned long`, the
 *    way the kernel takes them (prctl: glibc passes its four on whatever
 *    the caller gave); the entry receives them as `arg1`…`argN`.
 *  - `argv-list`: a NULL-terminated list of `char *` starting at the last
 *    named parameter (execl…), followed by `char *const envp[]` when `envp`;
 *    the shim builds an argv and calls the runtime entry of `via`.
 */
export type Variadic =
  | {
      readonly kind: 'by-command';
      readonly command: number;
      readonly none: readonly string[];
      readonly int: readonly string[];
      readonly pointer: readonly string[];
      readonly otherwise: 'int' | 'pointer';
      readonly why: string;
    }
  | { readonly kind: 'word'; readonly why: string }
  | { readonly kind: 'words'; readonly count: number; readonly why: string }
  | { readonly kind: 'argv-list'; readonly via: string; readonly envp: boolean; readonly why: string };

/**
 * A fortify variant (`__<name>_chk`): glibc's `_FORTIFY_SOURCE` headers call
 * it instead of `<name>` when the buffer size is known at compile time, and
 * it calls the real function without going through the PLT, so the shim must
 * interpose it too.  It takes the base function's params with one extra
 * object-size parameter inserted at `sizeAt`; it fails (glibc's
 * `__chk_fail`) when `bounds` exceeds that size, counted in bytes or in
 * elements of the pointer parameter `elementsOf`.
 */
export interface Fortify {
  readonly name: string;
  readonly version: GlibcVersion;
  readonly sizeAt: number;
  readonly sizeName: string;
  /** The base parameter the size bounds (name). */
  readonly bounds: string;
  readonly unit: 'bytes' | { readonly elementsOf: string };
}

/** Another exported name for the same function (`__close`, `fcntl64`, `sendfile64`). */
export interface Alias {
  readonly name: string;
  readonly version: GlibcVersion;
  readonly why: string;
}

export interface LibcFunction {
  readonly name: string;
  readonly doc: string;
  readonly group: Group;
  /** The C return type. */
  readonly returns: CType;
  readonly params: readonly Param[];
  /** Which parameters carry fds. */
  readonly fds?: readonly FdUse[];
  /** The return value is a new fd (socket, accept, dup…). */
  readonly returnsFd?: true;
  readonly variadic?: Variadic;
  /**
   * `tail-jump`: the exported symbol is an assembly stub that jumps to the
   * address `sb_<name>_target()` returns, so no C frame sits between the
   * program and the real function (vfork: the child borrows the parent's
   * stack until it execs or exits).  Such a function takes no parameters.
   */
  readonly entry?: 'tail-jump';
  /** The header that declares it, e.g. `<sys/socket.h>`. */
  readonly header: `<${string}>`;
  /** The feature macro its declaration needs, when not plain POSIX. */
  readonly feature?: '_GNU_SOURCE' | '_DEFAULT_SOURCE';
  /** The version of the symbol glibc exports (the default one, `@@`). */
  readonly version: GlibcVersion;
  readonly aliases?: readonly Alias[];
  readonly fortify?: readonly Fortify[];
}

/**
 * A function of the shim's own public C API (not a libc function): declared
 * in a public header under shim/include/switchboard/, defined by hand in
 * shim/src, and exported by libswitchboard.so next to the interposed symbols.
 * Nothing is resolved or wrapped for it; codegen lists it in the export map
 * and repeats its prototype after including its header (build/gen/c/
 * sb_api_check.c, compiled into the shim), so a spec that drifts from the
 * header fails to compile.  Names start with `sb_`: they share the program's
 * global namespace with everything else it links.
 */
export interface ApiFunction {
  readonly name: string;
  readonly doc: string;
  /** The public header that declares it, e.g. `<switchboard/zerocopy.h>`. */
  readonly header: `<switchboard/${string}>`;
  /** The C return type. */
  readonly returns: CType;
  readonly params: readonly Param[];
}

/** A glibc symbol the shim deliberately leaves alone, and why. */
export interface Excluded {
  readonly name: string;
  readonly why: string;
}

export interface Libc {
  readonly name: string;
  readonly doc: string;
  /**
   * The oldest glibc the shim supports.  Symbols glibc exports at a version
   * up to this one are required (the shim aborts with a message when one is
   * missing); newer ones are optional (when absent, the wrapper fails with
   * ENOSYS, as glibc does for a syscall the kernel lacks).
   */
  readonly baseline: GlibcVersion;
  readonly functions: readonly LibcFunction[];
  readonly excluded: readonly Excluded[];
  /** The shim's own public API, exported with the interposed functions. */
  readonly api: readonly ApiFunction[];
}

/** Declares the libc surface; the identity function that lets TypeScript check the literal. */
export function defineLibc(l: Libc): Libc {
  return l;
}
