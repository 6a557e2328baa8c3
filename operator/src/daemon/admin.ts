/**
 * The admin socket, <runtime>/admin.sock: newline-delimited JSON requests
 * and answers for the CLI (`switchboard status`, `circuits`, `reload`) and
 * the launcher (finding or creating a tenant's socket).  Mode 0600: only the
 * operator's own user (and root) may use it; tenants never see it.
 *
 *   → {"cmd":"status"}            ← {"ok":true,"status":{…}}
 *   → {"cmd":"circuits"}          ← {"ok":true,"circuits":[…]}
 *   → {"cmd":"reload"}            ← {"ok":true} | {"ok":false,"error":"policy.yaml:3: …"}
 *   → {"cmd":"tenant","name":"x","create":true}  ← {"ok":true,"tenant":{"name":"x","socket":"…"}}
 */
import fs from 'node:fs';
import net from 'node:net';

export type AdminRequest =
  | { cmd: 'status' }
  | { cmd: 'circuits' }
  | { cmd: 'reload' }
  | { cmd: 'tenant'; name: string; create?: boolean };

export type AdminAnswer = { ok: true; [k: string]: unknown } | { ok: false; error: string };

export class AdminServer {
  private server: net.Server | null = null;

  constructor(
    private readonly path: string,
    private readonly answer: (r: AdminRequest) => AdminAnswer,
  ) {}

  async listen(): Promise<void> {
    fs.rmSync(this.path, { force: true });
    const server = net.createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > 64 * 1024) {
          sock.destroy();
          return;
        }
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let a: AdminAnswer;
          try {
            a = this.answer(JSON.parse(line) as AdminRequest);
          } catch (e) {
            a = { ok: false, error: (e as Error).message };
          }
          sock.write(`${JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
        }
      });
      sock.on('error', () => sock.destroy());
    });
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(this.path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    fs.rmSync(this.path, { force: true });
  }
}

/** One request to a running operator's admin socket. Rejects with ECONNREFUSED/ENOENT when none runs. */
export function adminRequest(path: string, req: AdminRequest, timeoutMs = 5000): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the operator at ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as AdminAnswer);
      } catch (e) {
        reject(e as Error);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
