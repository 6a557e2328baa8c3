/**
 * Writes the golden vectors the C test checks (ctest's protocol.vectors
 * fixture runs this before protocol.golden):
 *
 *   node --import tsx codegen/protocol/test/write-vectors.ts --gen build/gen --out FILE [--seed N] [--per-type N] [--mutations N]
 *
 * The expectations come from the generated TypeScript codec in --gen, the
 * message shapes from specs/protocol.ts; both must be current (run codegen).
 */
import fs from 'node:fs';
import path from 'node:path';
import { protocol } from '../../../specs/protocol.ts';
import type { AnyProtocol } from '../../../specs/language/protocol.ts';
import { buildModel } from '../model.ts';
import { loadCodec, vectorLines } from './vectors.ts';

interface Options {
  gen: string;
  out: string;
  seed: number;
  perType: number;
  mutations: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { gen: 'build/gen', out: '', seed: 20240601, perType: 24, mutations: 12 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`write-vectors: ${a} needs a value`);
    if (a === '--gen') o.gen = value;
    else if (a === '--out') o.out = value;
    else if (a === '--seed') o.seed = Number(value);
    else if (a === '--per-type') o.perType = Number(value);
    else if (a === '--mutations') o.mutations = Number(value);
    else throw new Error(`write-vectors: unknown argument ${a}`);
  }
  if (!o.out) throw new Error('write-vectors: --out FILE is required');
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const codecFile = path.resolve(o.gen, 'ts', 'protocol.ts');
  if (!fs.existsSync(codecFile)) throw new Error(`write-vectors: ${codecFile} is missing: run codegen first`);
  const codec = await loadCodec(codecFile);
  const lines = vectorLines(buildModel(protocol as AnyProtocol), codec, o);
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  fs.writeFileSync(o.out, `${lines.join('\n')}\n`);
  const accepted = lines.filter((l) => / ok /.test(l)).length;
  console.log(`write-vectors: ${lines.length - 1} vectors (${accepted} valid) in ${o.out}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
