/**
 * Helpers for the end-to-end tests that harness.ts does not have: looking
 * into a program's network namespace, running a program isolated without the
 * shim, sha256, a port for a fresh operator.
 *
 *   const ns = netnsOf(pid);   // { id: 'net:[…]', links: ['1: lo: <LOOPBACK> … state DOWN …'], addrs: [] }
 *   const r = await runBare(CURL, [url]);   // unshare --net, no LD_PRELOAD: exit 7
 */
import type { ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

export const sha256 = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

export interface Netns {
  /** The namespace's inode (/proc/PID/ns/net), e.g. "net:[4026532280]". */
  readonly id: string;
  /** `ip -o link show` inside it: one line per interface. */
  readonly links: string[];
  /** `ip -o addr show` inside it. */
  readonly addrs: string[];
}

/** The network namespace of a process: its identity and its interfaces (through nsenter). */
export function netnsOf(pid: number): Netns {
  const id = fs.readlinkSync(`/proc/${pid}/ns/net`);
  const ip = (what: string) =>
    execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-o', what, 'show'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  return { id, links: ip('link'), addrs: ip('addr') };
}

/**
 * Checks that `pid` runs isolated as `switchboard run --isolate` promises: a
 * namespace of its own whose only interface is lo, down, without addresses.
 * Returns the namespace.
 */
export function checkIsolated(t: ExecutionContext<unknown>, pid: number): Netns {
  const ns = netnsOf(pid);
  t.not(ns.id, ownNetns());
  t.is(ns.links.length, 1, ns.links.join('\n'));
  t.regex(ns.links[0]!, /^1: lo: <LOOPBACK> .* state DOWN /);
  t.deepEqual(ns.addrs, []);
  return ns;
}

/** This process's network namespace. */
export const ownNetns = () => fs.readlinkSync('/proc/self/ns/net');

/** A port for a server under a fresh operator (each tenant is its own port space, so any is free). */
export const somePort = () => 20000 + crypto.randomInt(20000);

export interface BareResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * Runs a program in a new network namespace without interfaces, as
 * `switchboard run --isolate` does, but without the launcher and without the
 * shim (no LD_PRELOAD, no SWITCHBOARD_* variables): what the program can
 * reach on its own, with nothing of ours in the process at all.
 */
export function runBare(cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<BareResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'LD_PRELOAD' && !k.startsWith('SWITCHBOARD_')) env[k] = v;
  return new Promise((resolve) => {
    execFile('unshare', ['--net', '--', cmd, ...args], { env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr, timedOut: Boolean(e?.killed) });
    });
  });
}

export const describeBare = (r: BareResult) => `exit ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`;

/**
 * Runs `script` with sh in a new network namespace with loopback up and
 * without the shim: the kernel's answers to the same programs a test runs
 * over circuits (the "kernel column" of the UDP tests).  Exit 99: loopback
 * could not be brought up.
 */
export function inKernelNamespace(script: string, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'LD_PRELOAD' && !k.startsWith('SWITCHBOARD_')) clean[k] = v;
  return new Promise((resolve) => {
    execFile('unshare', ['--net', '--', 'sh', '-c', `ip link set lo up || exit 99\n${script}`], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 1 << 24 },
      (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
  });
}
