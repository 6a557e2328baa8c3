/**
 * OpenSSH over circuits: sshd re-executes itself for each connection (the
 * accepted socket crosses exec and is claimed back from the operator), runs
 * its pre-authentication child in a seccomp sandbox (wake-ups switch to
 * write/read/ppoll), and hands the connection from one child process to the
 * next (each adopts the circuit's indices).  ssh runs a command, scp copies
 * 100 MiB both ways, checksummed.  Server and clients each run in their own
 * network namespace without interfaces.
 */
import anyTest, { type TestFn } from 'ava';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Background, describeResult, type Operator, runIsolated, startIsolated, startOperator, tempDir, tool } from './harness.ts';

const test = anyTest as TestFn<{ op: Operator; sshd: Background; port: number; dir: string; cleanup: () => void }>;

const SSHD = tool('sshd');
const SSH = tool('ssh');
const SCP = tool('scp');

/** A port no listener of this operator holds (the operator's ports are its own; any free number will do). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const sha256File = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

function clientOptions(dir: string, port: number, portFlag: '-p' | '-P'): string[] {
  return [
    '-i', path.join(dir, 'id'),
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'BatchMode=yes',
    portFlag, String(port),
  ];
}

test.before(async (t) => {
  const { dir, remove } = tempDir('sb-e2e-sshd-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'hostkey')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
  fs.copyFileSync(path.join(dir, 'id.pub'), path.join(dir, 'authorized_keys'));
  fs.mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'hostkey')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp', // scp speaks SFTP (OpenSSH 9)
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const op = await startOperator();
  const sshd = startIsolated(op, SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')]);
  await sshd.waitForLine(/Server listening on 127\.0\.0\.1 port/);
  t.context = { op, sshd, port, dir, cleanup: remove };
});

test.after.always(async (t) => {
  await t.context.sshd?.stop();
  await t.context.op?.stop();
  t.context.cleanup?.();
});

test.serial('ssh runs a command in the server\'s isolated namespace, over a circuit', async (t) => {
  const { op, port, dir } = t.context;
  const before = await op.tenant();
  const r = await runIsolated(op, SSH, [...clientOptions(dir, port, '-p'), 'root@127.0.0.1', 'echo "ran as $(id -un)"; ip -o link | wc -l; echo "$LD_PRELOAD"'], {
    timeoutMs: 30_000,
  });
  t.is(r.status, 0, describeResult(r));
  const [who, links, preload] = r.stdout.trim().split('\n');
  t.is(who, 'ran as root');
  t.is(links, '1', 'the session runs where sshd runs: a namespace with only lo');
  t.true((preload ?? '').split(' ').filter((p) => p.endsWith('libswitchboard.so')).length === 1, `the shim is kept, once: ${preload}`);
  const after = await op.tenant();
  t.true(after.connects_granted > before.connects_granted, 'the connection went over a circuit');
  t.regex(t.context.sshd.output().stderr, /Accepted publickey for root/);
});

test.serial('scp copies 100 MiB to the server and back, byte for byte', async (t) => {
  const { op, port, dir } = t.context;
  const original = path.join(dir, 'original.bin');
  fs.writeFileSync(original, crypto.randomBytes(100 << 20));
  const uploaded = path.join(dir, 'uploaded.bin');
  const downloaded = path.join(dir, 'downloaded.bin');
  const up = await runIsolated(op, SCP, ['-q', ...clientOptions(dir, port, '-P'), original, `root@127.0.0.1:${uploaded}`], { timeoutMs: 120_000 });
  t.is(up.status, 0, describeResult(up));
  const down = await runIsolated(op, SCP, ['-q', ...clientOptions(dir, port, '-P'), `root@127.0.0.1:${uploaded}`, downloaded], { timeoutMs: 120_000 });
  t.is(down.status, 0, describeResult(down));
  const want = sha256File(original);
  t.is(sha256File(uploaded), want, 'upload');
  t.is(sha256File(downloaded), want, 'download');
  t.log(`upload ${up.ms} ms, download ${down.ms} ms`);
});

test.serial('without the shim, ssh cannot reach the server', async (t) => {
  const { op, port, dir } = t.context;
  const r = await runIsolated(op, 'env', ['-u', 'LD_PRELOAD', SSH, ...clientOptions(dir, port, '-p'), '-o', 'ConnectTimeout=5', 'root@127.0.0.1', 'true'], {
    timeoutMs: 30_000,
  });
  t.is(r.status, 255);
  t.regex(r.stderr, /Network is unreachable/);
});
