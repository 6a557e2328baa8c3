/**
 * The socket state-machine language.
 *
 * A machine is plain TypeScript data: states, calls, the conditions a call's
 * outcome may depend on, and one rule per (state, call) pair.  The compiler
 * checks the shape (every state has a row, every row names every call, guards
 * only name declared conditions); `codegen/` checks the rest (errno names are
 * real Linux errnos, every target state exists, guards are exhaustive and no
 * case is shadowed, every state is reachable) and reports problems with the
 * file, line and pair.
 *
 * The same data drives three things: the shim's dispatch tables (C), the
 * verifier's predictions (what the kernel must do), and the docs.
 */

/** A Linux errno name, e.g. `ECONNREFUSED`; codegen checks it against the kernel headers. */
export type Errno = `E${string}`;

/** Readiness bits as `poll(2)` reports them (without the *NORM aliases); NVAL: not an open descriptor. */
export type PollFlag = 'IN' | 'PRI' | 'OUT' | 'ERR' | 'HUP' | 'RDHUP' | 'NVAL';

/**
 * A condition is a question the runtime answers when the call is made.
 * `source` says who knows the answer:
 *  - `argument`: the call's own arguments (flags, address, `how`);
 *  - `socket`:   the socket's memory (see `memory`) or its fd flags;
 *  - `peer`:     the other end or the network (data queued, listener exists).
 * Conditions are boolean unless `values` lists their domain.
 */
export interface ConditionDecl {
  readonly doc: string;
  readonly source: 'argument' | 'socket' | 'peer';
  readonly values?: readonly string[];
}

/**
 * A guard: the case applies when every named condition (or memory) has the
 * given value, or one of the listed values.
 */
export type Guard<K extends string> = { readonly [P in K]?: boolean | string | readonly string[] };

/** What a call's successful return value means. */
export type Returns =
  | 'zero' //          0
  | 'fd' //            a new file descriptor
  | 'sent' //          the number of bytes (or the datagram) accepted for sending
  | 'received' //      bytes (or one datagram) taken from the receive queue
  | 'eof' //           0 from a read: the stream's end
  | 'sockname' //      0, and the socket's own address (as the `local` effects left it)
  | 'peername' //      0, and the peer's address
  | 'pendingError'; // 0, and SO_ERROR's value is the pending error (memory `error`)

/**
 * What a call does to the socket's own address (what getsockname shows):
 *  - `bind`:       the address and port the call asked for (port 0: an ephemeral port);
 *  - `autobind`:   keep the address, pick an ephemeral port if there is none;
 *  - `connect`:    the local address that reaches the peer, port kept or ephemeral;
 *  - `refused`:    connect picked a port, then the failure reset the address to the
 *                  wildcard (unless bind() chose one); the port stays visible;
 *  - `disconnect`: back to the wildcard address unless bind() chose one; TCP keeps
 *                  showing the port, UDP forgets a port bind() did not choose.
 */
export type LocalEffect = 'bind' | 'autobind' | 'connect' | 'refused' | 'disconnect';

/** What one call does in one state (for one combination of conditions). */
export interface Outcome<S extends string, F extends string> {
  /** Success, and what the return value means. */
  readonly returns?: Returns;
  /** Failure with this errno (-1 returned); `pending`: the errno held in memory `error`. */
  readonly fails?: Errno | 'pending';
  /**
   * The call sleeps until the peer or the network acts.  A signal interrupts
   * it: then it fails with EINTR, unless `returns` says it had already made
   * progress (MSG_WAITALL with some data), and the socket moves to `to`.
   */
  readonly blocks?: true;
  /** The state afterwards (default: unchanged). */
  readonly to?: S;
  /** A call that returns a new socket (accept): the state that socket starts in, with initial memory. */
  readonly spawns?: S;
  /** Memory the call changes (see Machine.memory). */
  readonly set?: { readonly [P in F]?: boolean | string };
  /** What the call does to the socket's own address. */
  readonly local?: LocalEffect;
  /** A signal the call raises (SIGPIPE on a write to a closed stream). */
  readonly raises?: 'SIGPIPE';
  /**
   * The pair cannot happen (an event with no peer, `socket` on an existing
   * socket); the explorer never drives it and the shim never dispatches it.
   */
  readonly impossible?: string;
  /** Why Linux does this, where it is not obvious (kernel function, quirk). */
  readonly why?: string;
}

export interface Case<S extends string, K extends string, F extends string> {
  readonly when: Guard<K>;
  readonly then: Outcome<S, F>;
}

/**
 * A rule is either one outcome, or cases tried in order; the last case may
 * have an empty guard (`when: {}`), meaning "otherwise".
 */
export type Rule<S extends string, K extends string, F extends string> =
  | Outcome<S, F>
  | readonly Case<S, K, F>[];

export interface CallDecl<K extends string> {
  readonly doc: string;
  /** `call`: the program calls it on the socket; `event`: the peer or network acts. */
  readonly kind: 'call' | 'event';
  /** Conditions this call's rules may test (the runtime evaluates only these). */
  readonly depends: readonly K[];
  /** The libc functions that perform this call (from specs/libc.ts). */
  readonly via?: readonly string[];
  /** A pure call never changes the state; the verifier uses it to observe. */
  readonly pure?: true;
}

export type Readiness<K extends string> = PollFlag | { readonly flag: PollFlag; readonly when: Guard<K> };

export interface StateDecl<K extends string> {
  readonly doc: string;
  /** What `poll()` reports for this state, before any pending error. */
  readonly poll: readonly Readiness<K>[];
}

/**
 * Memory kept beside the state: facts Linux remembers independently of the
 * connection's phase (a pending error, a shutdown requested before connect).
 * Boolean (initially false) unless `values` lists the domain (initially the first).
 */
export interface MemoryDecl {
  readonly doc: string;
  readonly values?: readonly string[];
}

export interface Machine<S extends string, C extends string, K extends string, F extends string> {
  readonly name: string;
  readonly doc: string;
  readonly type: 'SOCK_STREAM' | 'SOCK_DGRAM';
  readonly families: readonly ('AF_INET' | 'AF_INET6')[];
  readonly initial: S;
  readonly states: { readonly [P in S]: StateDecl<K | F> };
  readonly calls: { readonly [P in C]: CallDecl<K | F> };
  readonly conditions: { readonly [P in K]: ConditionDecl };
  /** Memory beside the state, testable in guards like conditions. */
  readonly memory: { readonly [P in F]: MemoryDecl };
  readonly rules: { readonly [P in S]: { readonly [Q in C]: Rule<S, K | F, F> } };
}

/** Declares a machine; the identity function that lets TypeScript infer and check the names. */
export function defineMachine<S extends string, C extends string, K extends string, F extends string>(
  m: Machine<S, C, K, F>,
): Machine<S, C, K, F> {
  return m;
}

/** Shorthand for a rule that is the same outcome for every call in a list. */
export function every<C extends string, S extends string, K extends string, F extends string>(
  calls: readonly C[],
  rule: Rule<S, K, F>,
): { [P in C]: Rule<S, K, F> } {
  return Object.fromEntries(calls.map((c) => [c, rule])) as { [P in C]: Rule<S, K, F> };
}

/**
 * Narrows a rule to the cases where `when` holds: every case of `rule` gets
 * `when` added to its guard.  Lets a spec say "with AF_UNSPEC, do what a
 * disconnect does" without repeating the disconnect's own cases.
 */
export function under<S extends string, K extends string, F extends string, W extends string>(
  when: Guard<W>,
  rule: Rule<S, K, F>,
): Case<S, K | W, F>[] {
  const cases: readonly Case<S, K, F>[] = isCases(rule) ? rule : [{ when: {}, then: rule }];
  return cases.map((c) => {
    for (const k of Object.keys(c.when)) {
      const outer = (when as Record<string, unknown>)[k];
      if (outer !== undefined && JSON.stringify(outer) !== JSON.stringify((c.when as Record<string, unknown>)[k])) {
        throw new Error(`under(): condition '${k}' is constrained twice`);
      }
    }
    return { when: { ...when, ...c.when } as Guard<K | W>, then: c.then };
  });
}

export function isCases<S extends string, K extends string, F extends string>(
  rule: Rule<S, K, F>,
): rule is readonly Case<S, K, F>[] {
  return Array.isArray(rule);
}
