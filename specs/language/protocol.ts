/**
 * The wire-protocol language: the messages the shim and the switch operator
 * exchange, as plain TypeScript data.
 *
 * Every message has a fixed size: a 16-byte header (see docs/protocol.md)
 * followed by its fields in declaration order, little-endian, with no
 * implicit padding.  Strings occupy a fixed slot (a u16 length and `max`
 * bytes, zero-padded), so every field has a constant offset and a receiver
 * can check a message's length before it looks at a single field.
 *
 * The compiler checks the shape (field types, replies and the error reply
 * name declared messages, enum/flags/struct references exist); `codegen/protocol/check.ts`
 * checks the rest (unique names and type codes, sizes within the bound,
 * bounded strings, routes of requests and replies) and reports problems with
 * file, line, message and field.  `codegen/protocol/` renders the C and
 * TypeScript encoders and decoders and the reference tables of docs/protocol.md.
 */

/**
 * Fixed-size field types.
 *  - `u8` … `u64`, `i32`: little-endian integers;
 *  - `bool`:     one byte, 0 or 1 (anything else is rejected);
 *  - `errno`:    an i32 Linux errno, 1..4095 (0 is not an error);
 *  - `sockaddr`: an AF_UNSPEC/AF_INET/AF_INET6 address, 28 bytes:
 *                family u16, port u16 (host order), flowinfo u32,
 *                scope_id u32, address 16 bytes (IPv4 in the first 4).
 */
export type Scalar = 'u8' | 'u16' | 'u32' | 'u64' | 'i32' | 'bool' | 'errno' | 'sockaddr';

/** The integer types an enum or flag set is stored in. */
export type Base = 'u8' | 'u16' | 'u32';

/**
 * A field's type: a scalar, or
 *  - `{ string: max }`: UTF-8 text of at most `max` bytes, no NUL bytes;
 *  - `{ bytes: n }`:    exactly `n` opaque bytes;
 *  - `{ enum: name }`:  one of the values of a declared enum;
 *  - `{ flags: name }`: a bit set of a declared flag set (unknown bits are rejected);
 *  - `{ struct: name }`: a declared group of fields, laid out in place.
 * (References are `NoInfer`: the declarations alone define the names, so a
 * misspelt reference is reported at the reference.)
 */
export type FieldType<E extends string, G extends string, T extends string> =
  | Scalar
  | { readonly string: number }
  | { readonly bytes: number }
  | { readonly enum: NoInfer<E> }
  | { readonly flags: NoInfer<G> }
  | { readonly struct: NoInfer<T> };

export interface Field<E extends string, G extends string, T extends string> {
  /** snake_case; `type` and `request_id` are taken by the header. */
  readonly name: string;
  readonly doc: string;
  readonly type: FieldType<E, G, T>;
}

/**
 * Which socket a message travels on, and in which direction:
 *  - `shim-to-operator`, `operator-to-shim`: the tenant's control socket;
 *  - `port`: operator to shim, on a bound socket's port fd (the accept queue).
 * A receiver decodes with the route it read from and rejects any other.
 */
export type Route = 'shim-to-operator' | 'operator-to-shim' | 'port';

/** A file descriptor attached to a message with SCM_RIGHTS, in this order. */
export interface AttachedFd {
  readonly name: string;
  readonly doc: string;
}

export interface Message<M extends string, E extends string, G extends string, T extends string> {
  /** snake_case, unique. */
  readonly name: M;
  /** The type code in the header: unique, 1..65535, never reused for another meaning. */
  readonly code: number;
  readonly doc: string;
  readonly route: Route;
  /**
   * The replies a request may get (the protocol's `errorReply` is always
   * possible besides).  A message with replies is a request: its request id
   * is never 0.  A message nobody replies with and that is not a request is a
   * notice: its request id is always 0.
   */
  readonly replies?: readonly NoInfer<M>[];
  /** File descriptors that travel with the message; every instance carries exactly these. */
  readonly fds?: readonly AttachedFd[];
  readonly fields: readonly Field<E, G, T>[];
}

export interface EnumDecl {
  readonly doc: string;
  readonly base: Base;
  readonly values: { readonly [name: string]: { readonly value: number; readonly doc: string } };
}

export interface FlagsDecl {
  readonly doc: string;
  readonly base: Base;
  /** Bit positions (0 = least significant). */
  readonly bits: { readonly [name: string]: { readonly bit: number; readonly doc: string } };
}

export interface StructDecl<E extends string, G extends string> {
  readonly doc: string;
  /** Structs do not nest. */
  readonly fields: readonly Field<E, G, never>[];
}

export interface Protocol<M extends string, E extends string, G extends string, T extends string> {
  /** Must be the string literal `'protocol'`: codegen finds the literal by it. */
  readonly name: string;
  readonly doc: string;
  /** Carried in every header; a receiver rejects any other version. */
  readonly version: number;
  /** The largest message a receiver must accept (its buffer size); every message must fit. */
  readonly maxMessageBytes: number;
  /** The most fds any message carries (the receiver's SCM_RIGHTS buffer). */
  readonly maxFds: number;
  /** The message every request may get instead of its replies: it must hold an `errno` field. */
  readonly errorReply: NoInfer<M>;
  readonly enums: { readonly [P in E]: EnumDecl };
  readonly flags: { readonly [P in G]: FlagsDecl };
  readonly structs: { readonly [P in T]: StructDecl<E, G> };
  readonly messages: readonly Message<M, E, G, T>[];
}

/** Declares the protocol; the identity function that lets TypeScript infer and check the names. */
export function defineProtocol<M extends string, E extends string, G extends string, T extends string>(
  p: Protocol<M, E, G, T>,
): Protocol<M, E, G, T> {
  return p;
}

/** A protocol with its names erased, as checkers and generators see it. */
export type AnyProtocol = Protocol<string, string, string, string>;
export type AnyMessage = Message<string, string, string, string>;
export type AnyField = Field<string, string, string>;
export type AnyFieldType = FieldType<string, string, string>;
