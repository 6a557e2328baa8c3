/**
 * `python3 -m http.server` and three HTTP clients (python's urllib, curl,
 * wget), each in its own network namespace with no interface up, so every
 * byte goes over circuits granted by a real operator.  What the clients
 * fetch must have the originals' sha256, the operator must have granted at
 * least one circuit per connection, and the same clients without the shim
 * must not reach the server at all.
 *
 * Serial: the tests compare the operator's counters before and after.
 */
import anyTest, { type TestFn } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const test = anyTest as TestFn<{ op: Operator; server: Background; port: number; docroot: string; cleanup: () => void }>;

const PYTHON = tool('python3');
const CURL = tool('curl');
const WGET = tool('wget');

/** name → content: a 1 MiB random file and a few small ones (one empty). */
const FILES: Record<string, Buffer> = {
  'big.bin': crypto.randomBytes(1 << 20),
  'small.txt': Buffer.from('hello over a circuit\n'),
  'odd.bin': crypto.randomBytes(4097),
  'empty.txt': Buffer.alloc(0),
};
const NAMES = Object.keys(FILES);

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Fetches argv[2:] (URLs) into argv[1] (a directory), one connection each; prints one JSON line per URL. */
const URLLIB_CLIENT = `
import json, os, sys, urllib.request
out = sys.argv[1]
for url in sys.argv[2:]:
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
    with open(os.path.join(out, url.rsplit('/', 1)[1]), 'wb') as f:
        f.write(body)
    print(json.dumps({'url': url, 'status': r.status, 'length': len(body)}))
`;

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-http-');
  const docroot = path.join(dir, 'www');
  fs.mkdirSync(docroot);
  for (const [name, body] of Object.entries(FILES)) fs.writeFileSync(path.join(docroot, name), body);
  fs.writeFileSync(path.join(dir, 'urllib_client.py'), URLLIB_CLIENT);
  const op = await startOperator();
  const server = startIsolated(op, PYTHON, ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', docroot]);
  const line = await server.waitForLine(/^Serving HTTP on 127\.0\.0\.1 port \d+/);
  t.context = { op, server, port: Number(/port (\d+)/.exec(line)![1]), docroot, cleanup: remove };
});

test.after.always(async (t) => {
  await t.context.server?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

/** A fresh output directory under the test's temp dir. */
function outDir(t: { context: { docroot: string } }, name: string): string {
  const dir = path.join(path.dirname(t.context.docroot), name);
  fs.mkdirSync(dir);
  return dir;
}

const urls = (port: number) => NAMES.map((n) => `http://127.0.0.1:${port}/${n}`);

test.serial('urllib, curl and wget fetch every file over circuits, byte for byte', async (t) => {
  const { op, port } = t.context;
  const before = await op.tenant();
  const dirs = { urllib: outDir(t, 'urllib'), curl: outDir(t, 'curl'), wget: outDir(t, 'wget') };
  const script = path.join(path.dirname(t.context.docroot), 'urllib_client.py');

  const urllib = await runIsolated(op, PYTHON, [script, dirs.urllib, ...urls(port)]);
  t.is(urllib.status, 0, describeResult(urllib));
  const reported = urllib.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { status: number; length: number });
  t.deepEqual(reported.map((r) => [r.status, r.length]), NAMES.map((n) => [200, FILES[n]!.length]));

  // One curl for all files: HTTP/1.0 answers close, so one connection each (num_connects says).
  const curl = await runIsolated(op, CURL, [
    '-sS', '--fail', '-w', '%{http_code} %{size_download} %{num_connects}\\n',
    ...NAMES.flatMap((n, i) => ['-o', path.join(dirs.curl, n), urls(port)[i]!]),
  ]);
  t.is(curl.status, 0, describeResult(curl));
  t.deepEqual(curl.stdout.trim().split('\n'), NAMES.map((n) => `200 ${FILES[n]!.length} 1`));

  // --no-http-keep-alive: http.server answers HTTP/1.0 and closes, yet wget keeps the connection for
  // the next URL unless the FIN is already there; over TCP Nagle makes the FIN ride with the last
  // bytes, over a circuit it follows them a moment later (docs/compatibility.md, "Timing").
  const wget = await runIsolated(op, WGET, ['-nv', '--tries=1', '--timeout=10', '--no-http-keep-alive', '-P', dirs.wget, ...urls(port)]);
  t.is(wget.status, 0, describeResult(wget));

  for (const [client, dir] of Object.entries(dirs)) {
    for (const name of NAMES) {
      const file = path.join(dir, name);
      t.true(fs.existsSync(file), `${client} did not save ${name}`);
      if (fs.existsSync(file)) t.is(sha256(fs.readFileSync(file)), sha256(FILES[name]!), `${client}: ${name}`);
    }
  }

  // Every connection was a circuit the operator granted (the server's log also counts the requests).
  const connections = 3 * NAMES.length;
  const after = await op.tenant();
  t.log(`connects_granted ${before.connects_granted} → ${after.connects_granted} for ${connections} connections`);
  t.true(after.connects_granted - before.connects_granted >= connections, `connects_granted ${before.connects_granted} → ${after.connects_granted}, ${connections} connections`);
  t.true(after.circuits_total - before.circuits_total >= connections, `circuits_total ${before.circuits_total} → ${after.circuits_total}`);
  const served = t.context.server.output().stderr.split('\n').filter((l) => / "GET \/[\w.]+ HTTP\/1\.[01]" 200 /.test(l));
  t.true(served.length >= connections, `the server logged ${served.length} GETs:\n${t.context.server.output().stderr}`);
});

test.serial('the same clients, isolated without the shim, cannot reach the server', async (t) => {
  const { op, port } = t.context;
  const before = await op.tenant();
  const url = `http://127.0.0.1:${port}/small.txt`;
  const bare = (cmd: string, args: string[]) => runIsolated(op, 'env', ['-u', 'LD_PRELOAD', cmd, ...args], { timeoutMs: 20_000 });
  const [py, curl, wget] = await Promise.all([
    bare(PYTHON, [path.join(path.dirname(t.context.docroot), 'urllib_client.py'), outDir(t, 'bare'), url]),
    bare(CURL, ['-sS', '--max-time', '5', url]),
    bare(WGET, ['-nv', '--tries=1', '--timeout=5', '-O', '-', url]),
  ]);
  t.false(py.timedOut || curl.timedOut || wget.timedOut, 'they fail at once, without waiting');
  t.is(py.status, 1, describeResult(py));
  t.regex(py.stderr, /URLError: <urlopen error \[Errno 101\] Network is unreachable>/, describeResult(py));
  t.is(curl.status, 7, describeResult(curl)); // CURLE_COULDNT_CONNECT
  t.is(wget.status, 4, describeResult(wget)); // network failure
  t.regex(wget.stderr, /Network is unreachable/, describeResult(wget));
  const after = await op.tenant();
  t.is(after.connects_granted, before.connects_granted, 'no circuit was granted to them');
});
