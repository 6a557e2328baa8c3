#!/usr/bin/env node
/**
 * npm run bench -- <name> [options]
 *
 * Runs one benchmark: bench/<name>/run.mjs (for example `ring`, `connect`).
 * Each benchmark measures Switchboard against the kernel in the same run and
 * ends with one summary line `<name>: ...` of ratios.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
const available = fs.existsSync(path.join(root, 'bench'))
  ? fs.readdirSync(path.join(root, 'bench')).filter((d) => fs.existsSync(path.join(root, 'bench', d, 'run.mjs')))
  : [];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|') || 'none yet'}> [options]`);
  process.exit(2);
}
const { run } = await import(pathToFileURL(path.join(root, 'bench', name, 'run.mjs')).href);
process.exit(await run(args, { root }));
