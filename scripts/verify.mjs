#!/usr/bin/env node
/**
 * npm run verify [-- --circuits] [-- sb-verify options]
 *
 * Runs the verifier built by `npm run build` (build/cmake/bin/sb-verify).
 *
 * The kernel column (default) needs nothing else.  The circuit column
 * (--circuits) preloads the shim (build/cmake/lib/libswitchboard.so) into every
 * sequence and needs an operator: this script starts one of its own, with a
 * policy of TENANTS tenants (each its own address space, as each kernel-column
 * sequence has its own network namespace), in a private runtime directory,
 * and stops it (by pid) afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TENANTS = 64;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verifier = path.join(root, 'build/cmake/bin/sb-verify');
const shim = path.join(root, 'build/cmake/lib/libswitchboard.so');

for (const [file, what] of [[verifier, 'the verifier'], [shim, 'the shim']]) {
  if (!fs.existsSync(file)) {
    console.error(`verify: ${what} is not built (${path.relative(root, file)}); run: npm run build`);
    process.exit(2);
  }
}

const args = process.argv.slice(2);
if (!args.includes('--circuits')) {
  const r = spawnSync(verifier, args, { stdio: 'inherit' });
  process.exit(r.status ?? 2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verify-'));
const runtime = path.join(dir, 'rt');
const names = Array.from({ length: TENANTS }, (_, i) => `v${i}`);
fs.writeFileSync(
  path.join(dir, 'policy.yaml'),
  [
    'version: 1',
    'tenants:',
    ...names.map((n) => `  - name: ${n}`),
    'listen:',
    '  - { tenant: "*", ports: any }',
    'connect:',
    '  - { from: "*", to: { tenant: self }, action: allow }',
    'defaults:',
    '  connect: deny',
    '',
  ].join('\n'),
);
const operatorLog = path.join(dir, 'operator.log');
const operator = spawn(
  process.execPath,
  [path.join(root, 'operator/bin/switchboard.mjs'), 'operator', '--policy', path.join(dir, 'policy.yaml'), '--runtime-dir', runtime, '--log-level', 'warn'],
  { stdio: ['ignore', 'ignore', fs.openSync(operatorLog, 'w')] },
);
const socketOf = (n) => path.join(runtime, 'tenants', n, 'control.sock');

function stop(code) {
  operator.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}

const deadline = Date.now() + 20000;
while (!names.every((n) => fs.existsSync(socketOf(n)))) {
  if (operator.exitCode !== null || Date.now() > deadline) {
    console.error(`verify: the operator did not start; its log:\n${fs.readFileSync(operatorLog, 'utf8')}`);
    stop(2);
  }
  await new Promise((r) => setTimeout(r, 50));
}
const withOperator = [...args];
if (!withOperator.includes('--shim')) withOperator.push('--shim', shim);
if (!withOperator.includes('--show')) withOperator.push('--show', '1000'); // every disagreement, to check against the deviations
withOperator.push('--tenant-socket', path.join(runtime, 'tenants', 'v%u', 'control.sock'), '--tenants', String(TENANTS));
// The verifier's own output goes through; its DISAGREE lines are checked against
// the known deviations (verifier/deviations.txt, docs/compatibility.md).
const r = spawnSync(verifier, withOperator, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 30 });
process.stdout.write(r.stdout ?? '');
if (r.status === 0 || r.status === 1) {
  const list = spawnSync(verifier, ['--list'], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
  const label = new Map(list.split('\n').map((l) => /^(\d+) (.*)$/.exec(l)).filter(Boolean).map((m) => [m[1], m[2].trim()]));
  const known = new Set(
    fs.readFileSync(path.join(root, 'verifier/deviations.txt'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')),
  );
  const partial = args.includes('--seq') || args.includes('--limit') || args.includes('--from') || args.includes('--machine');
  const disagreed = [...new Set([...(r.stdout ?? '').matchAll(/^DISAGREE (\d+)/gm)].map((m) => label.get(m[1]) ?? `#${m[1]}`))];
  const unexpected = disagreed.filter((d) => !known.has(d));
  const healed = partial ? [] : [...known].filter((k) => !disagreed.includes(k));
  const harnessErrors = /could not run/.test(r.stdout ?? '');
  for (const u of unexpected) console.log(`verify: unexpected disagreement: ${u}`);
  for (const h of healed) console.log(`verify: listed as a deviation but agrees now (delete it from verifier/deviations.txt): ${h}`);
  const ok = unexpected.length === 0 && healed.length === 0 && !harnessErrors;
  console.log(`verify: circuit column ${ok ? 'as expected' : 'NOT as expected'}: ${disagreed.length - unexpected.length} known deviations (docs/compatibility.md)`);
  stop(ok ? 0 : 1);
}
stop(r.status ?? 2);
