/**
 * One control connection: a shim process (or anything else that reached the
 * tenant's socket) talking to the operator.  Reads whole SOCK_SEQPACKET
 * messages with their fds, decodes them with the generated codec, and
 * answers requests strictly in the order they arrived (a connect parked on a
 * full backlog holds up the requests behind it, as the protocol promises).
 *
 * The reading is native (fastpath.cc's ControlSession): it answers the
 * connects it can itself, and hands everything else here as read.  While
 * this side has anything to answer (or no hello yet) the session is held,
 * and the native side hands everything here, so answers keep their order.
 *
 * A message that cannot be decoded, carries the wrong number of fds or was
 * truncated is hostile: every fd that came with it is closed, the peer gets
 * `error` with request id 0, and the connection is closed.  Nothing a peer
 * sends can make the operator throw.
 */
import {
  decode,
  encode,
  HEADER,
  isDecodeError,
  MAX_FDS,
  MAX_MESSAGE_BYTES,
  type Msg,
  TYPES,
  VERSION,
} from '../../../build/gen/ts/protocol.ts';
import { E, errnoName } from '../errno.ts';
import type { Logger } from '../log.ts';
import { native, type NativeControlSession, type SessionRecord } from '../native.ts';

export interface Credentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A reply: a message to encode and send, or (the connect hot path) a native call that sends it itself. */
export type Outgoing =
  | {
      readonly msg: Msg;
      readonly fds?: readonly number[];
      /** Runs after the send, whether it worked or not (closes the operator's copies of given-away fds). */
      readonly after?: () => void;
    }
  | {
      /** Sends the reply on `fd`; 0 or the errno. */
      readonly sendOn: (fd: number) => number;
      readonly what: string;
      readonly after?: () => void;
    };

export type Handler = (
  s: Session,
  msg: Msg,
  fds: number[],
  receivedAt: bigint,
) => Outgoing | null | Promise<Outgoing | null>;

interface Queued {
  readonly msg: Msg;
  readonly fds: number[];
  readonly at: bigint;
}

/** Stop reading from a peer with this many requests waiting (one parked connect holds the rest). */
const MAX_QUEUED = 64;
/** Messages the native reader reads per readiness event (fastpath.cc kReadBatch), so one busy peer cannot starve the others. */
const READ_BATCH = 64;

/** What a session needs from the operator around it. */
export interface SessionHooks {
  /** The native reader of this connection (FastPath.session). */
  read(fd: number, onRecords: (records: SessionRecord[]) => void): NativeControlSession;
  /** Brings in what the fast path did (Exchange.sync), before anything here acts. */
  sync(): void;
  onMessage(): void;
  onRejected(): void;
  onClose(s: Session): void;
}

export class Session {
  private reader: NativeControlSession | null = null;
  private reading = false;
  private readonly queue: Queued[] = [];
  private busy = false;
  private closed = false;
  /** A hostile message arrived: refuse it once the requests before it are answered. */
  private fatal: { fds: number[]; why: string; bytes: Buffer } | null = null;
  /** The `hello` that opened the session, once it has. */
  hello: Extract<Msg, { type: 'hello' }> | null = null;

  constructor(
    readonly id: number,
    private readonly fd: number,
    readonly tenant: string,
    readonly cred: Credentials,
    private readonly log: Logger,
    private readonly handler: Handler,
    private readonly hooks: SessionHooks,
  ) {
    this.reader = hooks.read(fd, (records) => this.received(records));
    this.reading = true;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private watch(): void {
    this.reader?.resume();
    this.reading = true;
  }

  private unwatch(): void {
    this.reader?.pause();
    this.reading = false;
  }

  /**
   * Takes what the native reader could not answer itself (in order), then
   * answers it: the replies (which wake their receivers) go out as late as
   * possible, just before the operator goes back to sleep, because a Unix
   * socket wakes its reader "synchronously", on the sender's CPU, in the
   * expectation that the sender sleeps next.
   */
  private received(records: SessionRecord[]): void {
    this.hooks.sync();
    for (const r of records) {
      if (this.closed) break;
      if (this.fatal) {
        // Read after a hostile message: dropped with it, as reject() drops what is still unread.
        if (r.kind === 'message') for (const fd of r.fds) native.closeFd(fd);
        continue;
      }
      if (r.kind === 'again') break;
      if (r.kind === 'eof') return this.close('peer closed');
      if (r.kind === 'error') return this.close(`receive failed: ${errnoName(r.errno)}`);
      if (r.kind === 'send_failed') return this.close(`cannot send ${r.what}: ${errnoName(r.errno)}`);
      this.hooks.onMessage();
      const at = process.hrtime.bigint();
      const msg = r.truncated ? null : decode(r.bytes, 'shim-to-operator');
      let why: string | null = null;
      if (!msg) why = 'message or its fds truncated (longer than any message)';
      else if (isDecodeError(msg)) {
        why =
          msg.code === 'version' && r.bytes.length >= HEADER.version + 2
            ? `the operator speaks protocol ${VERSION}, this peer ${r.bytes.readUInt16LE(HEADER.version)}`
            : `undecodable message: ${msg.message}`;
      } else if (r.fds.length !== TYPES[msg.type].fds.length) {
        why = `${msg.type} carries ${TYPES[msg.type].fds.length} fds, got ${r.fds.length}`;
      }
      if (why !== null || !msg || isDecodeError(msg)) {
        // Answer what came before it first (in order), then refuse it and hang up.
        this.fatal = { fds: r.fds, why: why ?? 'undecodable message', bytes: r.bytes };
        this.unwatch();
        continue;
      }
      // A full queue stops the reading; what was read with it (at most READ_BATCH) still queues.
      this.queue.push({ msg, fds: r.fds, at });
      if (this.queue.length >= MAX_QUEUED) this.unwatch();
    }
    this.pump();
  }

  private pump(): void {
    while (!this.busy && !this.closed) {
      const q = this.queue.shift();
      if (!q) break;
      let out: Outgoing | null | Promise<Outgoing | null>;
      try {
        out = this.handler(this, q.msg, q.fds, q.at);
      } catch (e) {
        this.log.error('session.handler_failed', { session: this.id, type: q.msg.type, error: (e as Error).stack });
        out = this.errorFor(q.msg, E.EIO, 'internal error in the operator');
      }
      if (out instanceof Promise) {
        this.busy = true;
        out.then(
          (o) => {
            this.busy = false;
            if (o) this.send(o);
            this.pump();
          },
          (e: Error) => {
            this.busy = false;
            this.log.error('session.handler_failed', { session: this.id, type: q.msg.type, error: e.stack });
            this.send(this.errorFor(q.msg, E.EIO, 'internal error in the operator'));
            this.pump();
          },
        );
        return;
      }
      if (out) this.send(out);
    }
    if (this.closed || this.busy) return;
    if (this.fatal) return this.reject(this.fatal.fds, this.fatal.why, this.fatal.bytes);
    if (!this.reading && this.queue.length < MAX_QUEUED / 2) this.watch();
    // Everything answered: the native side may answer connects again.
    this.reader?.hold(!(this.hello && this.reading && this.queue.length === 0));
  }

  /** An `error` reply to `msg` (request id echoed). */
  errorFor(msg: Msg, errnum: number, message: string): Outgoing {
    return { msg: { type: 'error', requestId: msg.requestId, errnum, message: clip(message) } };
  }

  /** Sends a reply; a peer that cannot take it (gone, or not reading) loses the session. */
  send(o: Outgoing): boolean {
    let err: number;
    const what = 'msg' in o ? o.msg.type : o.what;
    try {
      if (this.closed) err = E.EPIPE;
      else err = 'msg' in o ? native.sendMessage(this.fd, encode(o.msg), o.fds ?? []) : o.sendOn(this.fd);
    } catch (e) {
      this.log.error('session.send_failed', { session: this.id, type: what, error: (e as Error).message });
      err = E.EIO;
    }
    o.after?.();
    if (err !== 0 && !this.closed) this.close(`cannot send ${what}: ${errnoName(err)}`);
    return err === 0;
  }

  private reject(fds: number[], why: string, bytes: Buffer): void {
    this.fatal = null;
    for (const fd of fds) native.closeFd(fd);
    this.hooks.onRejected();
    this.log.warn('session.rejected', {
      session: this.id,
      tenant: this.tenant,
      ...this.cred,
      reason: why,
      bytes: bytes.length,
      head: bytes.subarray(0, 16).toString('hex'),
    });
    this.send({ msg: { type: 'error', requestId: 0, errnum: E.EPROTO, message: clip(why) } });
    // Closing with unread messages would make the peer's next read fail with ECONNRESET
    // before it sees the error: drop what is queued first.
    for (let i = 0; i < 4 * READ_BATCH && !this.closed; i++) {
      const r = native.recvMessage(this.fd, MAX_MESSAGE_BYTES, MAX_FDS);
      if (r.kind !== 'message') break;
      for (const fd of r.fds) native.closeFd(fd);
    }
    this.close('hostile message');
  }

  close(reason: string): void {
    if (this.closed) return;
    this.hooks.sync(); // what the fast path did for this session is reported while the session is still known
    this.closed = true;
    this.unwatch();
    this.reader?.close();
    this.reader = null;
    native.closeFd(this.fd);
    for (const q of this.queue.splice(0)) for (const fd of q.fds) native.closeFd(fd);
    for (const fd of this.fatal?.fds ?? []) native.closeFd(fd);
    this.fatal = null;
    this.log.info('session.close', { session: this.id, tenant: this.tenant, ...this.cred, reason });
    this.hooks.onClose(this);
  }
}

/** error.message is a string(200): keep it within 200 UTF-8 bytes. */
export function clip(s: string): string {
  let out = s;
  while (Buffer.byteLength(out) > 200) out = out.slice(0, -1);
  return out;
}
