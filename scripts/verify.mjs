#!/usr/bin/env node
/**
 * npm run verify [-- --circuits] [-- sb-verify options]
 *
 * Runs the verifier built by `npm run build` (build/cmake/bin/sb-verify).
 * With --circuits it preloads the shim (build/cmake/lib/libswitchboard.so)
 * into every sequence: the circuit column.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
if (args.includes('--circuits') && !args.includes('--shim')) args.push('--shim', shim);
const r = spawnSync(verifier, args, { stdio: 'inherit' });
process.exit(r.status ?? 2);
