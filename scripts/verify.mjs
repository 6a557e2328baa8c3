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
withOperator.push('--tenant-socket', path.join(runtime, 'tenants', 'v%u', 'control.sock'), '--tenants', String(TENANTS));
const r = spawnSync(verifier, withOperator, { stdio: 'inherit' });
stop(r.status ?? 2);
