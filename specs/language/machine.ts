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

/** Readiness bits as `poll(2)` reports them (without the *NORM aliases). */
export type PollFlag = 'IN' | 'PRI' | 'OUT' | 'ERR' | 'HUP' | 'RDHUP';

/**
 * A condition is a question the runtime answers when the call is made.
 * `source` says who knows the answer:
 *  - `argument`: the call's own arguments (flags, address, `how`);
 *  - `socket`:   the socket's remembered facts (see `flags`) or its fd flags;
 *  - `peer`:     the other end or the network (data queued, listener exists).
 * Conditions are boolean unless `values` lists their domain.
 */
export interface ConditionDecl {
  readonly doc: string;
  readonly source: 'argument' | 'socket' | 'peer';
  readonly values?: readonly string[];
}

/** A guard: the case applies when every named condition has the given value. */
export type Guard<K extends string> = { readonly [P in K]?: boolean | string };

/** What a call's successful return value means. */
export type Returns =
  | 'zero' //          0
  | 'fd' //            a new file descriptor
  | 'sent' //          the number of bytes (or the datagram) accepted for sending
  | 'received' //      bytes (or one datagram) taken from the receive queue
  | 'eof' //           0 from a read: the stream's end
  | 'sockname' //      0, and the address is the socket's own (see StateDecl.sockname)
  | 'peername'; //     0, and the address is the peer's

/** What one call does in one state (for one combination of conditions). */
export interface Outcome<S extends string, F extends string> {
  /** Success, and what the return value means. */
  readonly returns?: Returns;
  /** Failure with this errno (-1 returned). */
  readonly fails?: Errno;
  /**
   * The call sleeps until the peer or the network acts.  A signal interrupts
   * it: then it fails with EINTR, unless `returns` says it had already made
   * progress (MSG_WAITALL with some data), and the socket moves to `to`.
   */
  readonly blocks?: true;
  /** `getsockopt(SO_ERROR)` reports this pending error ('none' for 0). */
  readonly reports?: Errno | 'none';
  /** The state afterwards (default: unchanged). */
  readonly to?: S;
  /** Remembered facts set or cleared by the call. */
  readonly set?: readonly F[];
  readonly clear?: readonly F[];
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

export interface FlagDecl {
  readonly doc: string;
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
  /** Remembered facts: boolean memory kept beside the state, testable in guards. */
  readonly flags: { readonly [P in F]: FlagDecl };
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
