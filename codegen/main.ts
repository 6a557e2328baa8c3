/**
 * codegen: check every spec under specs/, then render the generated C and
 * TypeScript into the build directory.
 *
 *   tsx codegen/main.ts [--specs DIR] [--out DIR] [--check-only]
 *
 * A broken spec prints one line per problem (file:line:column: pair: message)
 * and exits 1 before anything is written.  Files whose content did not change
 * are left alone so that CMake does not rebuild what did not change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, type Generator, type GenContext, type Problem } from './framework.ts';
import { loadSpecs } from './load.ts';
import { machineGenerator } from './machine/generator.ts';
import { verifierGenerator } from './verifier/generator.ts';
import { libcGenerator } from './libc/generator.ts';
import { protocolGenerator } from './protocol/generator.ts';

export const GENERATORS: readonly Generator[] = [machineGenerator, verifierGenerator, libcGenerator, protocolGenerator];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Options {
  specs: string;
  out: string;
  checkOnly: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { specs: path.join(ROOT, 'specs'), out: path.join(ROOT, 'build', 'gen'), checkOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--specs') o.specs = path.resolve(argv[++i] ?? '');
    else if (a === '--out') o.out = path.resolve(argv[++i] ?? '');
    else if (a === '--check-only') o.checkOnly = true;
    else throw new Error(`codegen: unknown argument '${a}' (expected --specs DIR, --out DIR, --check-only)`);
  }
  return o;
}

/** Checks all specs; returns the problems (empty when the specs are sound). */
export async function checkSpecs(specsDir: string): Promise<{ problems: Problem[]; ctx: GenContext }> {
  const specs = await loadSpecs(specsDir, ROOT);
  const ctx: GenContext = { root: ROOT, specs };
  const problems: Problem[] = [...specs.typeProblems];
  for (const g of GENERATORS) problems.push(...g.check(ctx));
  return { problems, ctx };
}

function writeIfChanged(file: string, content: string): boolean {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return true;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const { problems, ctx } = await checkSpecs(opts.specs);
  if (problems.length > 0) {
    for (const p of problems) console.error(formatProblem(p));
    console.error(`codegen: ${problems.length} problem(s) in ${path.relative(process.cwd(), opts.specs) || '.'}; nothing generated`);
    process.exit(1);
  }
  if (opts.checkOnly) {
    console.log('codegen: specs are sound');
    return;
  }
  let written = 0;
  let total = 0;
  const expected = new Set<string>();
  for (const g of GENERATORS) {
    for (const out of g.render(ctx)) {
      total++;
      const file = path.join(opts.out, out.path);
      expected.add(file);
      if (writeIfChanged(file, out.content)) written++;
    }
  }
  console.log(`codegen: ${total} files in ${path.relative(process.cwd(), opts.out) || '.'} (${written} changed)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
