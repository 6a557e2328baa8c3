/**
 * The verifier's model of everything around the socket under test: the
 * harness's peers, the bytes in flight, the addresses.  The spec says what
 * the socket does; a world answers the spec's conditions ("is there data?",
 * "does anyone listen there?") and turns an outcome into concrete numbers
 * (how many bytes a recv returns, which port getsockname shows).
 */
import type { AnyOutcome } from '../machine/model.ts';
import type { AddrKind, Variant } from './vocabulary.ts';

export interface SeqParams {
  readonly family: 4 | 6;
  /** The socket is created with SOCK_NONBLOCK. */
  readonly nonblock: boolean;
}

/**
 * An address as the executor checks it: a kind rendered for the family, and
 * a port that is exact (>= 0) or ephemeral generation g (encoded -(g + 1)):
 * in the Linux range, and the same number every time that generation is seen.
 */
export interface Addr {
  readonly kind: AddrKind;
  readonly port: number;
}

export const ANY0: Addr = { kind: 'ANY', port: 0 };

/** What a world adds to a step's expectation beyond what the outcome says. */
export interface WorldEffect<W> {
  readonly world: W;
  /** For 'sent' and 'received': the exact count. */
  readonly count?: number;
  /** Datagrams: the tag byte and source address a recv must show, and recvmsg's msg_flags. */
  readonly tag?: number;
  readonly source?: Addr;
  readonly msgFlags?: number;
  /** The executor accepts the harness side of a new connection after this step. */
  readonly acceptPeer?: boolean;
}

export interface ApplyArgs<W> {
  readonly world: W;
  readonly variant: Variant;
  readonly params: SeqParams;
  readonly state: string;
  readonly next: string;
  readonly outcome: AnyOutcome;
  /** Memory before and after the step. */
  readonly memory: ReadonlyMap<string, string>;
  readonly memoryAfter: ReadonlyMap<string, string>;
}

export interface World<W> {
  readonly machine: string;
  initial(p: SeqParams): W;
  /** Every argument variant of a call. */
  variants(call: string, p: SeqParams): readonly Variant[];
  /** Whether the harness can perform this variant now (e.g. a peer that already closed cannot send). */
  feasible(w: W, v: Variant, state: string): boolean;
  /** The value of a condition (not memory) for this variant, or for observation when `v` is null. */
  condition(w: W, v: Variant | null, p: SeqParams, name: string): string;
  apply(a: ApplyArgs<W>): WorldEffect<W>;
  /** The world of a socket that `w`'s socket just accepted (sequences that follow it). */
  adopt?(w: W, v: Variant): W;
  sockname(w: W): Addr;
  peername(w: W): Addr;
  /** Identifies the world for deduplication: equal keys behave the same from here on. */
  key(w: W): string;
}

export function bool(b: boolean): string {
  return b ? 'true' : 'false';
}
