/**
 * npm run demo: nginx and curl, unmodified, talking over a circuit.
 *
 * Starts a private switch operator on the embedded default policy, nginx
 * (master and two workers, sendfile on) in a network namespace with no
 * interface up, and curl in another such namespace; curl fetches a page and
 * a 1 MiB file (checksummed), then a client holding its keep-alive
 * connection shows its live circuit in `switchboard circuits`.  Everything started here is stopped by pid.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runIsolated, startIsolated, startOperator, SWITCHBOARD, tempDir, tool } from '../compat-tests/harness.ts';

const NGINX = tool('nginx');
const CURL = tool('curl');
const PORT = 8080;

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const say = (s: string) => process.stdout.write(`${s}\n`);

function nginxConfig(dir: string): string {
  return `daemon off;
master_process on;
worker_processes 2;
error_log ${dir}/error.log notice;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  sendfile on;
  server { listen 127.0.0.1:${PORT}; root ${dir}/www; }
}
`;
}

async function main(): Promise<number> {
  const { dir, remove } = tempDir('sb-demo-');
  fs.mkdirSync(path.join(dir, 'www'));
  fs.mkdirSync(path.join(dir, 'tmp'));
  const page = Buffer.from('<h1>hello over a circuit</h1>\n');
  const big = crypto.randomBytes(1 << 20);
  fs.writeFileSync(path.join(dir, 'www', 'index.html'), page);
  fs.writeFileSync(path.join(dir, 'www', 'big.bin'), big);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir));
  fs.chmodSync(dir, 0o755); // nginx's workers run as an unprivileged user

  const op = await startOperator();
  say(`demo: switch operator pid ${op.pid}, runtime dir ${op.runtimeDir} (embedded default policy)`);
  const nginx = startIsolated(op, NGINX, ['-c', path.join(dir, 'nginx.conf'), '-p', dir]);
  try {
    // nginx listens once the operator holds its reservation.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const t = (await op.status()).tenants as { listeners: unknown[] }[];
      if (t.some((x) => x.listeners.length > 0)) break;
      if (Date.now() > deadline) throw new Error(`nginx did not start listening:\n${nginx.output().stderr}${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    say(`demo: nginx (master and 2 workers) listens on 127.0.0.1:${PORT} in a network namespace without interfaces`);
    const before = await op.tenant();

    const out = path.join(dir, 'fetched.bin');
    const r = await runIsolated(op, CURL, ['-sS', '--fail', '-w', '%{http_code} %{size_download} bytes in %{time_total} s\\n',
      `http://127.0.0.1:${PORT}/index.html`, '-o', '/dev/null', `http://127.0.0.1:${PORT}/big.bin`, '-o', out]);
    if (r.status !== 0) throw new Error(`curl failed (${r.status}): ${r.stderr}`);
    for (const line of r.stdout.trim().split('\n')) say(`demo: curl (its own namespace, no interfaces): ${line}`);
    const same = sha256(fs.readFileSync(out)) === sha256(big);
    say(`demo: big.bin sha256 ${same ? 'matches' : 'DIFFERS FROM'} the original`);

    // A client that keeps its connection open a moment (HTTP/1.1 keep-alive), to see its circuit.
    const HOLD = "import socket,sys,time\nc=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n" +
      "c.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: demo\\r\\n\\r\\n')\nn=0\n" +
      "while n < (1 << 20): n += len(c.recv(1 << 16))\nprint('held', flush=True)\ntime.sleep(5)\n";
    const held = startIsolated(op, tool('python3'), ['-c', HOLD, String(PORT)]);
    await held.waitForLine(/^held$/);
    const live = spawnSync(process.execPath, [SWITCHBOARD, 'circuits', '--runtime-dir', op.runtimeDir], { encoding: 'utf8' });
    say('demo: switchboard circuits (a client holding its keep-alive connection after a 1 MiB response):');
    for (const line of live.stdout.trimEnd().split('\n')) say(`  ${line}`);
    await held.stop();

    const after = await op.tenant();
    say(`demo: the operator granted ${after.connects_granted - before.connects_granted} circuits for these connections; ` +
      `nothing else could carry them (kernel TCP has no interface in either namespace)`);
    return same ? 0 : 1;
  } finally {
    await nginx.stop();
    await op.stop();
    remove();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
