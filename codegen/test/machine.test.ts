/**
 * The socket-machine checker: the real specs pass, and every kind of broken
 * spec fails with a message naming the file, the line and the pair.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, type GenContext, type Problem } from '../framework.ts';
import { loadSpecs } from '../load.ts';
import { machineGenerator } from '../machine/generator.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STREAM = 'socket/stream.ts';

/** Copies specs/ to a temporary directory, lets `edit` change stream.ts, and runs the machine checks. */
async function checkEdited(edit: (source: string) => string): Promise<{ problems: Problem[]; source: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-machine-'));
  fs.cpSync(path.join(ROOT, 'specs'), path.join(dir, 'specs'), { recursive: true });
  const file = path.join(dir, 'specs', STREAM);
  const original = fs.readFileSync(file, 'utf8');
  const source = edit(original);
  if (source === original) throw new Error('the edit changed nothing: the test is out of date with the spec');
  fs.writeFileSync(file, source);
  const specs = await loadSpecs(path.join(dir, 'specs'), ROOT);
  const ctx: GenContext = { root: ROOT, specs };
  const problems = [...specs.typeProblems, ...machineGenerator.check(ctx)];
  fs.rmSync(dir, { recursive: true, force: true });
  return { problems, source };
}

/** The 1-based line of the first occurrence of `needle` at or after `from`. */
function lineOf(source: string, needle: string, from = 0): number {
  const at = source.indexOf(needle, from);
  if (at < 0) throw new Error(`'${needle}' not in the edited spec`);
  return source.slice(0, at).split('\n').length;
}

/** Start of the row of `state` inside rules (rows are indented six spaces under `rules:`). */
function rowStart(source: string, state: string): number {
  return source.indexOf(`\n    ${state}: {`, source.indexOf('  rules: {'));
}

function find(t: { fail: (m: string) => void }, problems: Problem[], pred: (p: Problem) => boolean): Problem | undefined {
  const p = problems.find(pred);
  if (!p) t.fail(`expected problem not reported; got:\n${problems.map(formatProblem).join('\n') || '(none)'}`);
  return p;
}

test('the real socket specs pass every check', async (t) => {
  const specs = await loadSpecs(path.join(ROOT, 'specs'), ROOT);
  const problems = [...specs.typeProblems, ...machineGenerator.check({ root: ROOT, specs })];
  t.deepEqual(problems.map(formatProblem), []);
});

test('a pair with no rule is reported with the file, the row and the pair', async (t) => {
  const needle = "      listen: { fails: 'EINVAL', why: 'inet_listen: the socket is SS_CONNECTING' },\n";
  const { problems, source } = await checkEdited((s) => s.replace(needle, ''));
  const p = find(t, problems, (q) => q.subject === 'stream: (connecting, listen)' && /not covered/.test(q.message));
  t.truthy(p);
  t.true(p?.where.file.endsWith(`specs/${STREAM}`));
  t.is(p?.where.line, lineOf(source, '    connecting: {', source.indexOf('  rules: {')));
});

test('a pair covered twice is reported at its line', async (t) => {
  const { problems, source } = await checkEdited((s) => {
    const row = rowStart(s, 'bound');
    const at = s.indexOf("      listen: [", row);
    return `${s.slice(0, at)}      listen: { returns: 'zero', to: 'listening' },\n${s.slice(at)}`;
  });
  const p = find(t, problems, (q) => q.subject === 'stream: (bound, listen)' && /covered 2 times/.test(q.message));
  t.is(p?.where.line, lineOf(source, "      listen: { returns: 'zero', to: 'listening' },", rowStart(source, 'bound')));
});

test('an undefined target state is reported', async (t) => {
  const { problems, source } = await checkEdited((s) => s.replace("then: { returns: 'zero', to: 'listening' } }", "then: { returns: 'zero', to: 'listenin' } }"));
  const p = find(t, problems, (q) => q.subject === 'stream: (bound, listen)' && /'listenin' is not declared/.test(q.message));
  t.is(p?.where.line, lineOf(source, "to: 'listenin'"));
});

test('an errno Linux does not have is reported', async (t) => {
  const { problems, source } = await checkEdited((s) => s.replace("{ fails: 'EALREADY' }", "{ fails: 'EALREADYY' }"));
  const p = find(t, problems, (q) => q.subject === 'stream: (connecting, connect)' && /'EALREADYY' is not a Linux errno/.test(q.message));
  t.is(p?.where.line, lineOf(source, "'EALREADYY'"));
});

test('an unreachable state is reported', async (t) => {
  const { problems } = await checkEdited((s) => {
    let out = s.replace("  | 'closed';", "  | 'closed'\n  | 'limbo';");
    out = out.replace("    closed: { doc: 'close() released the descriptor', poll: ['NVAL'] },", "    closed: { doc: 'close() released the descriptor', poll: ['NVAL'] },\n    limbo: { doc: 'nowhere', poll: ['NVAL'] },");
    const closedRow = out.slice(rowStart(out, 'closed'), out.lastIndexOf('  },\n});'));
    return out.replace(closedRow, `${closedRow}${closedRow.replace('    closed: {', '    limbo: {')}`);
  });
  t.truthy(find(t, problems, (q) => q.subject === 'stream: state limbo' && /unreachable/.test(q.message)));
});

test('a rule whose cases leave a combination uncovered is reported', async (t) => {
  const { problems } = await checkEdited((s) =>
    s.replace("        { when: {}, then: { fails: 'EISCONN', why: 'inet_stream_connect: SS_UNCONNECTED but sk_state is not TCP_CLOSE' } },\n", ''),
  );
  const p = find(t, problems, (q) => q.subject === 'stream: (listening, connect)' && /not exhaustive: no case applies when/.test(q.message));
  t.regex(p?.message ?? '', /target=listener/);
});

test('a case that can never apply is reported', async (t) => {
  const line = "        { when: { nonblocking: true }, then: { fails: 'EALREADY' } },\n";
  const { problems } = await checkEdited((s) => s.replace(line, line + line));
  t.truthy(find(t, problems, (q) => q.subject === 'stream: (connecting, connect)' && /case \d+ can never apply/.test(q.message)));
});

test('a guard on a condition the call does not depend on is reported', async (t) => {
  const { problems } = await checkEdited((s) =>
    s.replace("listen: { doc: 'listen(backlog)', kind: 'call', depends: ['portTimeWait'], via: ['listen'] },", "listen: { doc: 'listen(backlog)', kind: 'call', depends: [], via: ['listen'] },"),
  );
  t.truthy(find(t, problems, (q) => q.subject === 'stream: (bound, listen)' && /does not list it in depends/.test(q.message)));
});

test('a call that goes through a libc function the shim does not interpose is reported', async (t) => {
  const { problems } = await checkEdited((s) => s.replace("via: ['listen'] }", "via: ['listen', 'listenat'] }"));
  t.truthy(find(t, problems, (q) => q.subject === 'stream: call listen' && /'listenat'/.test(q.message)));
});
