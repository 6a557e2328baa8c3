/**
 * With the no-op runtime, LD_PRELOAD=libswitchboard.so must change nothing:
 * real programs (curl, python3, nginx) give the same exit codes and the same
 * output with and without it.  Every program runs twice, plain and
 * preloaded, and the two results are compared.
 *
 * Servers are started by these tests on 127.0.0.1 with ports the kernel
 * picks, and stopped by their own pid.  Needs the shim built
 * (`npm run build`) and curl, python3, nginx (`node scripts/setup.mjs`).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = path.join(ROOT, 'build', 'cmake');

/**
 * The shim: $SWITCHBOARD_SHIM when set (a build elsewhere), else the one
 * cmake-js built, the shallowest build/cmake/**\/libswitchboard.so.
 */
function findShim(): string | undefined {
  const override = process.env.SWITCHBOARD_SHIM;
  if (override) return fs.existsSync(override) ? path.resolve(override) : undefined;
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6 || !fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'CMakeFiles') walk(p, depth + 1);
      else if (e.name === 'libswitchboard.so') found.push(p);
    }
  };
  walk(BUILD, 0);
  return found.sort((a, b) => a.split(path.sep).length - b.split(path.sep).length)[0];
}

const SHIM = findShim();

/** The shim, or a clear failure when it is not built. */
function shim(t: ExecutionContext): string | undefined {
  if (!SHIM) {
    t.fail(
      process.env.SWITCHBOARD_SHIM
        ? `SWITCHBOARD_SHIM=${process.env.SWITCHBOARD_SHIM} does not exist`
        : `libswitchboard.so not found under ${path.relative(ROOT, BUILD)}: build it first (npm run build)`,
    );
  }
  return SHIM;
}

/** A tool from PATH or /usr/sbin (nginx), or a clear failure. */
function tool(t: ExecutionContext, name: string): string | undefined {
  // Prefer the system python over version-manager shims (pyenv's is a shell script around it).
  if (name === 'python3' && fs.existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  t.fail(`${name} is not installed: run node scripts/setup.mjs (it installs curl, python3 and nginx)`);
  return undefined;
}

type Mode = 'plain' | 'preload';
const MODES: readonly Mode[] = ['plain', 'preload'];

function envFor(mode: Mode, lib: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  return mode === 'preload' ? { ...env, LD_PRELOAD: lib } : env;
}

interface Result {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], mode: Mode, lib: string, cwd?: string): Result {
  const r = spawnSync(cmd, args, { env: envFor(mode, lib), cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the same thing plain and preloaded and requires identical results. */
function same(t: ExecutionContext, what: string, results: Record<Mode, Result>): void {
  t.false(results.preload.stderr.includes('cannot be preloaded'), `${what}: the shim did not load: ${results.preload.stderr}`);
  t.deepEqual(results.preload, results.plain, `${what}: differs with LD_PRELOAD=${SHIM}`);
}

/** A long-running server started by a test, stopped by its own pid. */
interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM'); // this pid only
    });
}

/** True when the process has the shim mapped (it really was preloaded). */
function hasShimMapped(pid: number): boolean {
  return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libswitchboard.so');
}

/** `python3 -m http.server` on an ephemeral 127.0.0.1 port, serving `dir`. */
function startHttpServer(python: string, dir: string, mode: Mode, lib: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], {
      env: envFor(mode, lib),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`http.server did not report its port: ${out}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stop: stopper(child) });
      }
    });
    child.stderr!.resume(); // request log lines
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`http.server exited (${code}) before serving: ${out}`));
    });
  });
}

/** A port nobody listens on right now (for nginx, which needs it in its config). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tempDir(t: ExecutionContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('curl fetches from a local http server the same way with the shim', async (t) => {
  const lib = shim(t);
  const curl = tool(t, 'curl');
  const python = tool(t, 'python3');
  if (!lib || !curl || !python) return;
  const docroot = tempDir(t, 'sb-noop-http-');
  fs.writeFileSync(path.join(docroot, 'hello.txt'), 'hello over the wire\n'.repeat(1000));

  const results: Partial<Record<Mode, Result>> = {};
  const missing: Partial<Record<Mode, Result>> = {};
  for (const mode of MODES) {
    // Server and client both run in the mode under test.
    const server = await startHttpServer(python, docroot, mode, lib);
    t.teardown(server.stop);
    t.is(hasShimMapped(server.child.pid!), mode === 'preload', `python http.server (${mode}) has the shim mapped`);
    const url = `http://127.0.0.1:${server.port}`;
    const fmt = ['-sS', '-w', '\\n%{http_code} %{size_download} %{num_connects}\\n'];
    results[mode] = run(curl, [...fmt, `${url}/hello.txt`], mode, lib);
    missing[mode] = run(curl, ['-f', ...fmt, `${url}/missing.txt`], mode, lib);
    await server.stop();
  }
  t.is(results.plain!.status, 0);
  t.true(results.plain!.stdout.startsWith('hello over the wire\n'));
  t.regex(results.plain!.stdout, /\n200 20000 1\n$/);
  same(t, 'curl GET', results as Record<Mode, Result>);
  t.is(missing.plain!.status, 22, 'curl -f on a 404 exits 22');
  // The error text names the port, which differs between the two servers.
  const unport = (r: Result) => ({ ...r, stderr: r.stderr.replace(/:\d+\//g, ':PORT/') });
  same(t, 'curl 404', { plain: unport(missing.plain!), preload: unport(missing.preload!) });
});

const PYTHON_SCRIPT = `
import os, select, socket, subprocess, threading
out = []

a, b = socket.socketpair()
a.sendall(b'ping')
readable, _, _ = select.select([b], [], [], 5)
out.append(f'select: {len(readable)} readable, got {b.recv(4).decode()}')

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0))
srv.listen()
def echo_upper():
    conn, _ = srv.accept()
    with conn:
        conn.sendall(conn.recv(100).upper())
worker = threading.Thread(target=echo_upper)
worker.start()
with socket.create_connection(srv.getsockname()) as cli:
    cli.sendall(b'hello tcp')
    out.append(f'tcp echo: {cli.recv(100).decode()}')
worker.join()
srv.close()

p = select.poll()
p.register(a, select.POLLOUT)
out.append(f'poll: {len(p.poll(1000))} ready')
ep = select.epoll()
ep.register(b.fileno(), select.EPOLLIN)
a.send(b'x')
out.append(f'epoll: {len(ep.poll(1))} ready')

u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u1.bind(('127.0.0.1', 0))
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2.sendto(b'dgram', u1.getsockname())
out.append(f'udp: {u1.recvfrom(100)[0].decode()}')

r = subprocess.run(['sh', '-c', 'echo from subprocess; exit 3'], capture_output=True, text=True)
out.append(f'subprocess: {r.stdout.strip()} rc={r.returncode}')
r = subprocess.run(['sh', '-c', 'exit 4'], close_fds=False)
out.append(f'subprocess (posix_spawn path): rc={r.returncode}')

pid = os.fork()
if pid == 0:
    os._exit(5)
out.append(f'fork: child exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}')
try:
    socket.create_connection(('127.0.0.1', 1), timeout=5)
except OSError as e:
    out.append(f'refused: {type(e).__name__}')
print('\\n'.join(out))
`;

test('a python3 script with sockets, select, subprocess and fork behaves the same with the shim', (t) => {
  const lib = shim(t);
  const python = tool(t, 'python3');
  if (!lib || !python) return;
  const dir = tempDir(t, 'sb-noop-py-');
  const script = path.join(dir, 'surface.py');
  fs.writeFileSync(script, PYTHON_SCRIPT);
  const results = { plain: run(python, [script], 'plain', lib), preload: run(python, [script], 'preload', lib) };
  t.is(results.plain.status, 0, results.plain.stderr);
  t.regex(results.plain.stdout, /tcp echo: HELLO TCP\n[\s\S]*subprocess: from subprocess rc=3\n[\s\S]*fork: child exit 5\nrefused: ConnectionRefusedError\n$/);
  same(t, 'python3 script', results);
});

function nginxConfig(dir: string, listen: string): string {
  return [
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log;`,
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${dir}/${k}_temp;`),
    `  server { listen ${listen}; root ${dir}/html; }`,
    '}',
    '',
  ].join('\n');
}

test('nginx -t gives the same verdict and messages with the shim, for a good and a broken config', (t) => {
  const lib = shim(t);
  const nginx = tool(t, 'nginx');
  if (!lib || !nginx) return;
  const dir = tempDir(t, 'sb-noop-nginx-');
  const good = path.join(dir, 'good.conf');
  const bad = path.join(dir, 'bad.conf');
  fs.writeFileSync(good, nginxConfig(dir, '127.0.0.1:8080'));
  fs.writeFileSync(bad, nginxConfig(dir, '127.0.0.1:8080').replace('worker_connections 64;', 'worker_connections;'));
  // -e: nginx opens its error log before reading the config; keep it out of /var/log.
  const args = (conf: string) => ['-t', '-e', path.join(dir, 'startup.log'), '-p', dir, '-c', conf];
  const goodRuns = { plain: run(nginx, args(good), 'plain', lib), preload: run(nginx, args(good), 'preload', lib) };
  t.is(goodRuns.plain.status, 0, goodRuns.plain.stderr);
  t.regex(goodRuns.plain.stderr, /test is successful/);
  same(t, 'nginx -t (good config)', goodRuns);
  const badRuns = { plain: run(nginx, args(bad), 'plain', lib), preload: run(nginx, args(bad), 'preload', lib) };
  t.is(badRuns.plain.status, 1);
  t.regex(badRuns.plain.stderr, /invalid number of arguments in "worker_connections"/);
  same(t, 'nginx -t (broken config)', badRuns);
});

test('nginx serves a file to curl the same way with the shim', async (t) => {
  const lib = shim(t);
  const nginx = tool(t, 'nginx');
  const curl = tool(t, 'curl');
  if (!lib || !nginx || !curl) return;
  const results: Partial<Record<Mode, Result>> = {};
  for (const mode of MODES) {
    const dir = tempDir(t, 'sb-noop-nginx-serve-');
    fs.mkdirSync(path.join(dir, 'html'));
    fs.writeFileSync(path.join(dir, 'html', 'index.html'), 'served by nginx\n'.repeat(500));
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConfig(dir, `127.0.0.1:${port}`));
    // In the foreground, one process: its pid is the one to stop.
    const child = spawn(nginx, ['-e', path.join(dir, 'startup.log'), '-p', dir, '-c', conf, '-g', 'daemon off; master_process off;'], {
      env: envFor(mode, lib),
      stdio: 'ignore',
    });
    const stop = stopper(child);
    t.teardown(stop);
    await waitForPort(port, 10_000);
    t.is(hasShimMapped(child.pid!), mode === 'preload', `nginx (${mode}) has the shim mapped`);
    results[mode] = run(curl, ['-sS', '-w', '\\n%{http_code} %{size_download}\\n', `http://127.0.0.1:${port}/`], mode, lib);
    await stop();
  }
  t.is(results.plain!.status, 0);
  t.regex(results.plain!.stdout, /\n200 8000\n$/);
  same(t, 'curl from nginx', results as Record<Mode, Result>);
});
