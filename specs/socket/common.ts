/**
 * Small rule builders shared by the stream and datagram machines.  Each one
 * spells out a pattern Linux repeats in many states, so a row reads as what
 * it means ("blocks unless non-blocking") rather than as its cases.
 */
import type { Case, Outcome, Readiness } from '../language/machine.ts';

/** The errnos a socket can hold pending (reported by SO_ERROR, poll's ERR). */
export const PENDING_ERRORS = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'] as const;
export const ERROR_MEMORY = ['none', ...PENDING_ERRORS] as const;

/** poll() reports ERR whenever an error is pending (sock_poll → sk->sk_err). */
export const errIfPending = { flag: 'ERR', when: { error: PENDING_ERRORS } } as const satisfies Readiness<'error'>;

export const badf = { fails: 'EBADF', why: 'the descriptor is closed' } as const;

/** Non-blocking: fail with EAGAIN; blocking: sleep (state unchanged unless `blocked` says otherwise). */
export function waits<S extends string, F extends string>(
  blocked: Outcome<S, F> = {},
): readonly Case<S, 'nonblocking', F>[] {
  return [
    { when: { nonblocking: true }, then: { fails: 'EAGAIN' } },
    { when: {}, then: { blocks: true, ...blocked } },
  ];
}

/** A write to a stream that can no longer send: EPIPE, and SIGPIPE unless MSG_NOSIGNAL. */
export function epipe<S extends string, F extends string>(): readonly Case<S, 'nosignal', F>[] {
  return [
    { when: { nosignal: true }, then: { fails: 'EPIPE' } },
    { when: {}, then: { fails: 'EPIPE', raises: 'SIGPIPE' } },
  ];
}

/** SO_ERROR: report the pending error and clear it. */
export const reportError = { returns: 'pendingError', set: { error: 'none' } } as const;

/** The pending error, consumed (sock_error()). */
export const failPending = { fails: 'pending', set: { error: 'none' } } as const;
