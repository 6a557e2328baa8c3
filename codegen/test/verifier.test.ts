/**
 * One spec, every output: changing one transition in specs/ changes the
 * shim's C tables and the verifier's predictions with no other edit, and a
 * deliberately wrong transition makes the verifier (run against the real
 * kernel) fail and name the sequence that shows it.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

/** The wrong transition: Linux lets a listener call listen() again; this spec says EINVAL. */
const RIGHT = "listen: { returns: 'zero', why: 'a second listen() only changes the backlog' },";
const WRONG = "listen: { fails: 'EINVAL', why: 'deliberately wrong, for the test' },";

function codegen(specs: string, out: string): void {
  execFileSync(TSX, [path.join(ROOT, 'codegen/main.ts'), '--specs', specs, '--out', out], { cwd: ROOT, stdio: 'pipe' });
}

function copySpecs(dir: string, edit?: (s: string) => string): string {
  const specs = path.join(dir, 'specs');
  fs.cpSync(path.join(ROOT, 'specs'), specs, { recursive: true });
  if (edit) {
    const file = path.join(specs, 'socket/stream.ts');
    const before = fs.readFileSync(file, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error('the edit changed nothing: the test is out of date with the spec');
    fs.writeFileSync(file, after);
  }
  return specs;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-verifier-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const generated = (async () => {
  const base = path.join(tmp, 'base');
  const wrong = path.join(tmp, 'wrong');
  codegen(copySpecs(base), path.join(base, 'gen'));
  codegen(copySpecs(wrong, (s) => s.replace(RIGHT, WRONG)), path.join(wrong, 'gen'));
  return { base: path.join(base, 'gen'), wrong: path.join(wrong, 'gen') };
})();

function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

test('one changed transition changes the C tables and the predictions, and nothing else', async (t) => {
  const { base, wrong } = await generated;
  t.deepEqual(files(wrong), files(base));
  const changed = files(base).filter((f) => fs.readFileSync(path.join(base, f), 'utf8') !== fs.readFileSync(path.join(wrong, f), 'utf8'));
  t.true(changed.includes('c/sb_machine_stream.c'), changed.join(', '));
  t.true(changed.includes('c/sb_verifier_data.c'), changed.join(', '));
  // Decision vectors are random points of the spec; they may or may not land on the changed pair.
  t.deepEqual(changed.filter((f) => !['c/sb_machine_stream.c', 'c/sb_verifier_data.c', 'c/sb_vectors_machine.c'].includes(f)), []);

  // The verifier now expects listen() on a listener to fail with EINVAL.
  const steps = (dir: string) =>
    fs.readFileSync(path.join(dir, 'c/sb_verifier_data.c'), 'utf8').split('\n').filter((l) => l.includes('"listen(8)"'));
  const listeningIndex = 3; // stream_states[3] === "listening"
  const onListener = (l: string) => l.includes(`, ${listeningIndex}, ${listeningIndex}, 2, 0, "listen(8)"`);
  t.true(steps(base).some((l) => onListener(l) && /SBV_OP_LISTEN[^}]*, 0, 0, SBV_UNCHECKED/.test(l)));
  t.true(steps(wrong).some((l) => onListener(l) && /SBV_OP_LISTEN[^}]*, -1, EINVAL, SBV_UNCHECKED/.test(l)));
});

test('the verifier catches a wrong transition and names the sequence', async (t) => {
  const { wrong } = await generated;
  const exe = path.join(tmp, 'sb-verify-wrong');
  const sources = fs.readdirSync(path.join(ROOT, 'verifier')).filter((f) => f.endsWith('.c')).map((f) => path.join(ROOT, 'verifier', f));
  execFileSync('cc', [
    '-std=c11', '-D_GNU_SOURCE', '-O0', '-Wall', '-Wextra', '-Werror',
    '-I', path.join(ROOT, 'verifier'), '-I', path.join(wrong, 'c'),
    ...sources, path.join(wrong, 'c/sb_verifier_data.c'), '-o', exe,
  ]);
  const run = spawnSync(exe, ['--machine', 'stream', '--quiet'], { encoding: 'utf8' });
  t.is(run.status, 1, run.stdout + run.stderr);
  const m = /first disagreement:\nDISAGREE (\d+) (\d+)\n/.exec(run.stdout);
  t.truthy(m, run.stdout);
  t.regex(run.stdout, new RegExp(`sequence ${m?.[1]}: stream`));
  t.regex(run.stdout, /stream \(listening, listen\): returned 0; spec says it fails with EINVAL/);
  t.regex(run.stdout, /verifier: \d+ sequences, \d+ agree, [1-9]\d* disagree/);

  // The named sequence reproduces on its own.
  const again = spawnSync(exe, ['--seq', m?.[1] ?? '0', '--trace'], { encoding: 'utf8' });
  t.is(again.status, 1);
  t.regex(again.stdout, /DISAGREE/);
});
