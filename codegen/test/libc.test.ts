/**
 * The libc spec and its generator: the real spec passes and renders; each
 * way of breaking specs/libc.ts is reported with the file, the line and the
 * function.  Broken specs are made in a temporary copy of specs/.
 *
 * The copies get an index.ts that exports only `libc`: the libc checker
 * reads nothing else, and this keeps these tests independent of the other
 * specs (which may be mid-edit).  The last test runs the project's own
 * checkSpecs() over the real specs/ when every generator is in place.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GenContext, Problem } from '../framework.ts';
import { loadSpecs } from '../load.ts';
import { libcGenerator } from '../libc/generator.ts';
import { parseCType, renderCType } from '../libc/ctype.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SPECS = path.join(ROOT, 'specs');

const copies: string[] = [];
test.after.always(() => {
  for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
});

/** Copies specs/ to a fresh temp dir, lets `edit` change libc.ts, and returns the dir. */
function specsCopy(edit?: (libcSource: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-libc-spec-'));
  copies.push(dir);
  fs.cpSync(SPECS, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.ts'), "export { libc } from './libc.ts';\n");
  if (edit) {
    const file = path.join(dir, 'libc.ts');
    const before = fs.readFileSync(file, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error('the edit changed nothing: the test no longer matches specs/libc.ts');
    fs.writeFileSync(file, after);
  }
  return dir;
}

async function checkCopy(dir: string): Promise<{ ctx: GenContext; problems: Problem[]; typeProblems: Problem[] }> {
  const specs = await loadSpecs(dir, ROOT);
  const ctx: GenContext = { root: ROOT, specs };
  const libcFiles = (p: Problem) => /(^|\/)(libc\.ts|language\/libc\.ts)$/.test(p.where.file);
  return { ctx, problems: libcGenerator.check(ctx), typeProblems: specs.typeProblems.filter(libcFiles) };
}

/**
 * Replaces the first `from` after the line `name: '<fn>',` in libc.ts, and
 * remembers the 1-based line where the replacement starts.
 */
function inFunction(fn: string, from: string, to: string): { edit: (s: string) => string; line: () => number } {
  let line = 0;
  return {
    edit: (s) => {
      const start = s.indexOf(`name: '${fn}',`);
      if (start < 0) throw new Error(`specs/libc.ts has no function '${fn}'`);
      const at = s.indexOf(from, start);
      if (at < 0) throw new Error(`no '${from}' after function '${fn}' in specs/libc.ts`);
      line = s.slice(0, at).split('\n').length;
      return s.slice(0, at) + to + s.slice(at + from.length);
    },
    line: () => line,
  };
}

test('the real libc spec passes the checker and type-checks', async (t) => {
  const { problems, typeProblems } = await checkCopy(specsCopy());
  t.deepEqual(problems, []);
  t.deepEqual(typeProblems, []);
});

test('the real libc spec renders the list, header, table, wrappers and export map', async (t) => {
  const { ctx } = await checkCopy(specsCopy());
  const outputs = new Map(libcGenerator.render(ctx).map((o) => [o.path, o.content]));
  t.deepEqual([...outputs.keys()].sort(), [
    'c/sb_api_check.c',
    'c/sb_interpose.c',
    'c/sb_libc.c',
    'c/sb_libc.h',
    'c/sb_libc.map',
    'c/sb_libc_list.h',
  ]);
  const list = outputs.get('c/sb_libc_list.h')!;
  t.regex(list, /^SB_LIBC_REAL\(int, connect, \(int fd, const struct sockaddr \*addr, socklen_t len\), \(fd, addr, len\), "GLIBC_2\.2\.5", SB_REQUIRED\)$/m);
  t.regex(list, /^SB_LIBC_REAL\(int, epoll_pwait2, .*"GLIBC_2\.35", SB_OPTIONAL\)$/m);
  t.regex(list, /^SB_LIBC_REAL_VA\(int, fcntl, \(int fd, int cmd, \.\.\.\), "GLIBC_2\.2\.5", SB_REQUIRED\)$/m);
  t.regex(list, /^SB_LIBC_REAL_JUMP\(pid_t, vfork, "GLIBC_2\.2\.5", SB_REQUIRED\)$/m);
  t.regex(list, /^SB_LIBC_EXPORT\(__read_chk, read, "GLIBC_2\.4"\)$/m);
  t.regex(list, /^SB_LIBC_EXPORT\(fcntl64, fcntl, "GLIBC_2\.28"\)$/m);
  t.notRegex(list, /SB_LIBC_REAL[A-Z_]*\(\w+, execl,/, 'execl builds an argv and reaches execv: no real symbol of its own');

  const interpose = outputs.get('c/sb_interpose.c')!;
  t.regex(interpose, /SB_EXPORT int connect\(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len\)\n\{\n {4}return sb_connect\(fd, SB_SOCKADDR_PTR\(addr\), len\);/);
  t.regex(interpose, /SB_EXPORT ssize_t __read_chk\(int fd, void \*buf, size_t nbytes, size_t buflen\)\n\{\n {4}if \(nbytes > buflen\) \{/);
  t.regex(interpose, /if \(fdslen \/ sizeof\(\*fds\) < nfds\)/);
  t.regex(interpose, /return sb_execve\(path, \(char \*const \*\)argv, envp\);/);
  t.regex(interpose, /"vfork:\\n"\n {8}"__vfork:\\n"/);

  const map = outputs.get('c/sb_libc.map')!;
  const exported = [...map.matchAll(/^ {4}(\w+);$/gm)].map((m) => m[1]);
  t.true(exported.includes('connect') && exported.includes('__vfork') && exported.includes('execl'));
  t.false(exported.some((s) => s!.startsWith('libc_')));
  // The shim's own API is exported too, and nothing else named sb_ (runtime entry points stay hidden).
  const api = ['sb_zc_is_circuit', 'sb_zc_send_reserve', 'sb_zc_send_commit', 'sb_zc_recv_peek', 'sb_zc_recv_release'];
  t.deepEqual(exported.filter((s) => s!.startsWith('sb_')).sort(), [...api].sort());
  t.regex(map, /local:\n {4}\*;/);
  t.regex(list, /^SB_API_EXPORT\(sb_zc_send_reserve, "<switchboard\/zerocopy\.h>"\)$/m);
  t.false(/SB_LIBC_EXPORT\(sb_zc/.test(list), 'the API is not a glibc symbol');

  // The prototype check repeats the header's declarations after including it.
  const check = outputs.get('c/sb_api_check.c')!;
  t.regex(check, /#include <switchboard\/zerocopy\.h>/);
  t.regex(check, /^ssize_t sb_zc_send_reserve\(int fd, size_t min, struct iovec iov\[2\], int \*iovcnt, int flags\);$/m);
  t.regex(check, /^int sb_zc_recv_release\(int fd, size_t len\);$/m);
  t.regex(check, /\(sb_api_fn\)sb_zc_is_circuit,/);
});

test('C types: parse, render and reject', (t) => {
  const ok = (s: string) => {
    const p = parseCType(s);
    if (!p.ok) throw new Error(p.error);
    return renderCType(p.type, 'x');
  };
  t.is(ok('char *const *'), 'char *const *x');
  t.is(ok('const struct sockaddr *'), 'const struct sockaddr *x');
  t.is(ok('int [2]'), 'int x[2]');
  t.is(ok('unsigned long'), 'unsigned long x');
  for (const bad of ['integer', 'struct sockaddr_nope *', 'char * restrict', 'int [0]', 'const void', 'int [2] *']) {
    t.false(parseCType(bad).ok, bad);
  }
});

interface Breakage {
  readonly title: string;
  /** The function whose entry is changed. */
  readonly fn: string;
  /** The function the problem names, when not `fn` (a rename). */
  readonly names?: string;
  readonly from: string;
  readonly to: string;
  readonly message: RegExp;
  /** The compiler reports it too (a literal type outside its union). */
  readonly alsoTypeError?: true;
}

const BREAKAGES: readonly Breakage[] = [
  {
    title: 'a duplicate function',
    fn: 'shutdown',
    names: 'listen',
    from: "name: 'shutdown',",
    to: "name: 'listen',",
    message: /symbol 'listen' \(function 'listen'\) is already interposed as function 'listen'/,
  },
  {
    title: 'an fd parameter index that does not exist',
    fn: 'bind',
    from: "{ param: 0, as: 'fd' }",
    to: "{ param: 5, as: 'fd' }",
    message: /function 'bind': fd parameter index 5 does not exist/,
  },
  {
    title: 'a count index that does not exist',
    fn: 'poll',
    from: "as: 'pollfd-array', count: 1",
    to: "as: 'pollfd-array', count: 9",
    message: /function 'poll': count index 9 of the 'pollfd-array' does not exist/,
  },
  {
    title: 'an fd role on a parameter of the wrong type',
    fn: 'select',
    from: "{ param: 1, as: 'fd-set', count: 0 }",
    to: "{ param: 4, as: 'fd-set', count: 0 }",
    message: /function 'select': parameter 4 \('timeout', struct timeval \*\) cannot be an 'fd-set'/,
  },
  {
    title: 'a fortify variant with the wrong name',
    fn: 'recv',
    from: "name: '__recv_chk'",
    to: "name: '__recv_check'",
    message: /fortify variant '__recv_check' of 'recv' must be named '__recv_chk'/,
  },
  {
    title: 'a fortify variant bounding a parameter that does not exist',
    fn: 'read',
    from: "bounds: 'nbytes'",
    to: "bounds: 'count'",
    message: /fortify variant '__read_chk' of 'read' bounds 'count', which is not a parameter of 'read'/,
  },
  {
    title: 'an unknown group',
    fn: 'listen',
    from: "group: 'socket setup'",
    to: "group: 'sockets'",
    message: /function 'listen' has unknown group 'sockets'/,
    alsoTypeError: true,
  },
  {
    title: 'a C type it cannot render',
    fn: 'listen',
    from: "{ name: 'backlog', type: 'int' }",
    to: "{ name: 'backlog', type: 'integer' }",
    message: /function 'listen', parameter 'backlog': C type 'integer': unknown base type 'integer'/,
  },
  {
    title: 'an argv list for a function that is not listed',
    fn: 'execl',
    from: "via: 'execv'",
    to: "via: 'execvx'",
    message: /function 'execl' builds an argv for 'execvx', which is not a listed function/,
  },
  {
    title: 'an argv list whose target takes different parameters',
    fn: 'execle',
    from: "via: 'execve'",
    to: "via: 'execv'",
    message: /function 'execle' calls 'execv' with \(const char \*, char \*const \*, char \*const \*\), but 'execv' takes \(const char \*, char \*const \*\)/,
  },
  {
    title: 'an alias that repeats another symbol',
    fn: 'dup2',
    from: "name: '__dup2'",
    to: "name: '__close'",
    message: /symbol '__close' \(alias of 'dup2'\) is already interposed as alias of 'close'/,
  },
  {
    title: 'a fcntl command in two argument classes',
    fn: 'fcntl',
    from: "'F_DUPFD',",
    to: "'F_GETFD',",
    message: /function 'fcntl': command 'F_GETFD' is listed as both 'none' and 'int'/,
  },
  {
    title: 'a tail-jump function with parameters',
    fn: 'vfork',
    from: 'params: [],',
    to: "params: [{ name: 'flags', type: 'int' }],",
    message: /tail-jump function 'vfork' must take no parameters/,
  },
  {
    title: 'a newer-than-baseline function that cannot fail with ENOSYS',
    fn: 'epoll_pwait2',
    from: "returns: 'int'",
    to: "returns: 'void *'",
    message: /function 'epoll_pwait2' is newer than the baseline GLIBC_2\.28, so it must return an integer type/,
  },
  {
    title: 'an API function without the sb_ prefix',
    fn: 'sb_zc_send_commit',
    names: 'zc_send_commit',
    from: "name: 'sb_zc_send_commit',",
    to: "name: 'zc_send_commit',",
    message: /API function 'zc_send_commit' must start with 'sb_'/,
  },
  {
    title: 'an API function named like a runtime entry point',
    fn: 'sb_zc_send_commit',
    names: 'sb_close',
    from: "name: 'sb_zc_send_commit',",
    to: "name: 'sb_close',",
    message: /API function 'sb_close' is the name of the runtime entry point of 'close'/,
  },
  {
    title: 'an API function listed twice',
    fn: 'sb_zc_recv_release',
    names: 'sb_zc_recv_peek',
    from: "name: 'sb_zc_recv_release',",
    to: "name: 'sb_zc_recv_peek',",
    message: /symbol 'sb_zc_recv_peek' \(API function 'sb_zc_recv_peek'\) is already interposed as API function 'sb_zc_recv_peek'/,
  },
  {
    title: 'an API function declared outside the public headers',
    fn: 'sb_zc_is_circuit',
    from: "header: '<switchboard/zerocopy.h>'",
    to: "header: '<zerocopy.h>'",
    message: /API function 'sb_zc_is_circuit': header '<zerocopy\.h>' is not a public header/,
    alsoTypeError: true,
  },
  {
    title: 'an API function with a C type it cannot render',
    fn: 'sb_zc_send_commit',
    from: "{ name: 'len', type: 'size_t' }",
    to: "{ name: 'len', type: 'size' }",
    message: /API function 'sb_zc_send_commit', parameter 'len': C type 'size': unknown base type 'size'/,
  },
  {
    title: 'a malformed symbol version',
    fn: 'accept4',
    from: "version: 'GLIBC_2.10'",
    to: "version: 'GLIBC_2.10.x'",
    message: /function 'accept4': version 'GLIBC_2\.10\.x' is not a glibc symbol version/,
  },
];

for (const b of BREAKAGES) {
  test(`reports ${b.title}, naming file, line and function`, async (t) => {
    const change = inFunction(b.fn, b.from, b.to);
    const { problems, typeProblems } = await checkCopy(specsCopy(change.edit));
    const hit = problems.find((p) => b.message.test(p.message));
    if (!hit) {
      t.fail(`no problem matching ${b.message}; got:\n${problems.map((p) => `  ${p.subject}: ${p.message}`).join('\n')}`);
      return;
    }
    t.regex(hit.where.file, /(^|\/)libc\.ts$/);
    t.true(hit.where.file.endsWith('libc.ts') && !hit.where.file.includes('language'), hit.where.file);
    t.is(hit.where.line, change.line(), `reported at line ${hit.where.line}, the change is on line ${change.line()}`);
    const named = b.names ?? b.fn;
    t.is(hit.subject, named, 'the subject is the function');
    t.true(hit.message.includes(`'${named}'`), 'the message names the function');
    if (b.alsoTypeError) t.true(typeProblems.length > 0, 'TypeScript reports it too');
  });
}

test('switchboard.h carries the version in package.json', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const header = fs.readFileSync(path.join(ROOT, 'shim/include/switchboard/switchboard.h'), 'utf8');
  t.regex(header, new RegExp(`#define SWITCHBOARD_VERSION "${pkg.version.replaceAll('.', '\\.')}"`));
  const [major, minor, patch] = pkg.version.split('.');
  t.regex(header, new RegExp(`SWITCHBOARD_VERSION_MAJOR ${major}\\b[\\s\\S]*MINOR ${minor}\\b[\\s\\S]*PATCH ${patch}\\b`));
});

test('specs/index.ts exports the libc spec', (t) => {
  t.regex(fs.readFileSync(path.join(SPECS, 'index.ts'), 'utf8'), /export \{ libc \} from '\.\/libc\.ts';/);
});

// The project's own entry point over the real specs/, once every module it imports exists
// (decided synchronously: ava wants every test declared before the file's first await).
const missingModules = [
  ...[...fs.readFileSync(path.join(ROOT, 'codegen/main.ts'), 'utf8').matchAll(/from '(\.\/[^']+)'/g)].map((m) =>
    path.join(ROOT, 'codegen', m[1]!),
  ),
  ...[...fs.readFileSync(path.join(SPECS, 'index.ts'), 'utf8').matchAll(/from '(\.\/[^']+)'/g)].map((m) =>
    path.join(SPECS, m[1]!),
  ),
].filter((f) => !fs.existsSync(f));
if (missingModules.length === 0) {
  test('checkSpecs() over the real specs/ reports nothing about libc', async (t) => {
    const { checkSpecs } = await import('../main.ts');
    const { problems } = await checkSpecs(SPECS);
    t.deepEqual(
      problems.filter((p) => /(^|\/)libc\.ts$/.test(p.where.file) || p.subject === 'libc'),
      [],
    );
  });
} else {
  const names = missingModules.map((f) => path.relative(ROOT, f)).join(', ');
  test.skip(`checkSpecs() over the real specs/ (waiting for ${names})`, () => {});
}
