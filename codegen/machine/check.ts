/**
 * Static checks of a socket machine, run before anything is generated:
 * every (state, call) pair covered exactly once, every target state and
 * memory value defined, every errno a real Linux errno, guards that only test
 * what the call declares, cases that are exhaustive and never shadowed, and
 * no unreachable state.
 */
import type { Locator, Problem, Where } from '../framework.ts';
import { linuxErrnos } from '../errno.ts';
import { buildModel, casesOf, guardValues, isCaseList, type AnyMachine, type AnyOutcome, type Fact } from './model.ts';

const RETURNS = new Set(['zero', 'fd', 'sent', 'received', 'eof', 'sockname', 'peername', 'pendingError']);
const LOCAL = new Set(['bind', 'autobind', 'connect', 'refused', 'disconnect']);
const POLL = new Set(['IN', 'PRI', 'OUT', 'ERR', 'HUP', 'RDHUP', 'NVAL']);
const FAMILIES = new Set(['AF_INET', 'AF_INET6']);
const TYPES = new Set(['SOCK_STREAM', 'SOCK_DGRAM']);
/** Guards name at most this many facts per rule, so exhaustiveness can be checked by enumeration. */
const MAX_COMBINATIONS = 1 << 16;

export function isMachine(v: unknown): v is AnyMachine {
  return typeof v === 'object' && v !== null && 'rules' in v && 'states' in v && 'calls' in v && 'type' in v;
}

export function checkMachine(spec: AnyMachine, loc: Locator | undefined, libcFunctions?: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  const at = (path: readonly string[], needle?: string): Where => loc?.at(path, needle) ?? { file: 'specs', line: 0, column: 0 };
  const report = (path: readonly string[], subject: string, message: string, needle?: string) =>
    problems.push({ where: at(path, needle), subject: `${spec.name}: ${subject}`, message });

  const m = buildModel(spec);
  const states = new Set(m.states);
  const memory = new Map(m.facts.filter((f) => f.kind === 'memory').map((f) => [f.name, f]));
  const errnos = linuxErrnos();

  if (!TYPES.has(spec.type)) report(['type'], 'type', `'${spec.type}' is not SOCK_STREAM or SOCK_DGRAM`);
  for (const [i, f] of (spec.families ?? []).entries()) {
    if (!FAMILIES.has(f)) report(['families', String(i)], 'families', `'${f}' is not AF_INET or AF_INET6`);
  }
  if (!states.has(spec.initial)) report(['initial'], 'initial', `initial state '${spec.initial}' is not declared in states`);

  // Calls: depends name facts; via names interposed libc functions.
  for (const c of m.calls) {
    const decl = spec.calls[c];
    if (!decl) continue;
    for (const [i, d] of (decl.depends ?? []).entries()) {
      if (!m.factByName.has(d)) report(['calls', c, 'depends', String(i)], `call ${c}`, `depends on '${d}', which is neither a condition nor memory`);
    }
    if (decl.kind !== 'call' && decl.kind !== 'event') report(['calls', c, 'kind'], `call ${c}`, `kind must be 'call' or 'event'`);
    if (libcFunctions) {
      for (const [i, v] of (decl.via ?? []).entries()) {
        if (!libcFunctions.has(v)) report(['calls', c, 'via', String(i)], `call ${c}`, `via '${v}', which specs/libc.ts does not interpose`);
      }
    }
  }

  // Readiness guards.
  for (const s of m.states) {
    for (const [i, r] of (spec.states[s]?.poll ?? []).entries()) {
      const flag = typeof r === 'string' ? r : r.flag;
      if (!POLL.has(flag)) report(['states', s, 'poll', String(i)], `state ${s}`, `'${flag}' is not a poll flag`);
      if (typeof r !== 'string') checkGuard(r.when ?? {}, null, ['states', s, 'poll', String(i)], `state ${s} readiness`);
    }
  }

  // Rows and pairs.
  const rawRules = (spec.rules ?? {}) as Record<string, Record<string, unknown>>;
  for (const s of Object.keys(rawRules)) {
    if (!states.has(s)) report(['rules', s], `(${s}, *)`, `a row for '${s}', which is not declared in states`);
  }
  for (const s of m.states) {
    const row = rawRules[s];
    if (!row) {
      report(['states', s], `(${s}, *)`, `state '${s}' has no row in rules`);
      continue;
    }
    for (const c of Object.keys(row)) {
      if (!spec.calls[c]) report(['rules', s, c], `(${s}, ${c})`, `'${c}' is not a declared call`);
    }
    for (const c of m.calls) {
      const seen = loc?.occurrences(['rules', s], c) ?? [];
      if (seen.length > 1) {
        report(['rules', s, c], `(${s}, ${c})`, `covered ${seen.length} times (lines ${seen.map((w) => w.line).join(', ')}); each pair needs exactly one rule`);
      }
      if (row[c] === undefined) {
        report(['rules', s], `(${s}, ${c})`, `not covered: state '${s}' has no rule for call '${c}'`);
        continue;
      }
      checkRule(s, c, row[c]);
    }
  }

  // Reachability from the initial state.
  if (states.has(spec.initial)) {
    const reached = new Set([spec.initial]);
    const queue = [spec.initial];
    while (queue.length > 0) {
      const s = queue.shift() as string;
      for (const cases of m.rules.get(s)?.values() ?? []) {
        for (const k of cases) {
          if (k.then?.impossible !== undefined) continue;
          for (const to of [k.then?.to, k.then?.spawns]) {
            if (to && states.has(to) && !reached.has(to)) {
              reached.add(to);
              queue.push(to);
            }
          }
        }
      }
    }
    for (const s of m.states) {
      if (!reached.has(s)) report(['states', s], `state ${s}`, `unreachable: no rule leads to '${s}' from '${spec.initial}'`);
    }
  }
  return problems;

  function checkGuard(when: Record<string, unknown>, call: string | null, path: readonly string[], subject: string): void {
    const allowed = call ? new Set(spec.calls[call]?.depends ?? []) : null;
    for (const [k, v] of Object.entries(when)) {
      const fact = m.factByName.get(k);
      if (!fact) {
        report(path, subject, `guard tests '${k}', which is neither a condition nor memory`);
        continue;
      }
      if (allowed && !allowed.has(k)) {
        report(path, subject, `guard tests '${k}', but call '${call}' does not list it in depends`);
      }
      for (const val of guardValues(v)) {
        if (!fact.values.includes(val)) report(path, subject, `'${k}' has no value '${val}' (values: ${fact.values.join(', ')})`);
      }
    }
  }

  function checkOutcome(o: AnyOutcome, s: string, c: string, path: readonly string[]): void {
    const subject = `(${s}, ${c})`;
    if (typeof o !== 'object' || o === null) {
      report(path, subject, 'an outcome must be an object');
      return;
    }
    const decl = spec.calls[c];
    if (o.impossible !== undefined) {
      const extra = Object.keys(o).filter((k) => k !== 'impossible' && k !== 'why');
      if (extra.length > 0) report(path, subject, `an impossible pair cannot also say ${extra.join(', ')}`);
      return;
    }
    if (o.to !== undefined && !states.has(o.to)) report(path, subject, `target state '${o.to}' is not declared in states`, o.to);
    if (o.spawns !== undefined && !states.has(o.spawns)) report(path, subject, `spawned state '${o.spawns}' is not declared in states`, o.spawns);
    if (o.spawns !== undefined && o.returns !== 'fd') report(path, subject, 'only a call that returns a new descriptor spawns a socket');
    if (o.fails !== undefined) {
      if (o.fails === 'pending') {
        if (!memory.has('error')) report(path, subject, `fails with 'pending', but the machine has no 'error' memory`);
      } else if (!errnos.has(o.fails)) {
        report(path, subject, `'${o.fails}' is not a Linux errno`, o.fails);
      }
    }
    if (o.returns !== undefined && !RETURNS.has(o.returns)) report(path, subject, `returns '${o.returns}' is not one of ${[...RETURNS].join(', ')}`, o.returns);
    if (o.local !== undefined && !LOCAL.has(o.local)) report(path, subject, `local '${o.local}' is not one of ${[...LOCAL].join(', ')}`, o.local);
    if (o.raises !== undefined && o.fails === undefined) report(path, subject, 'only a failing call raises SIGPIPE');
    for (const [k, v] of Object.entries(o.set ?? {})) {
      const f: Fact | undefined = memory.get(k);
      if (!f) report(path, subject, `sets '${k}', which is not declared in memory`);
      else if (!f.values.includes(String(v))) report(path, subject, `sets '${k}' to '${String(v)}' (values: ${f.values.join(', ')})`, String(v));
    }
    if (decl?.kind === 'event') {
      if (o.returns !== undefined || o.fails !== undefined || o.blocks !== undefined) {
        report(path, subject, `'${c}' is an event: it has no return value, errno or blocking`);
      }
    } else if (decl) {
      if (o.fails !== undefined && (o.returns !== undefined || o.blocks !== undefined)) {
        report(path, subject, 'an outcome either fails, or returns/blocks');
      }
      if (o.fails === undefined && o.returns === undefined && o.blocks === undefined) {
        report(path, subject, 'a call must return, fail or block');
      }
      if (decl.pure && (o.to !== undefined || o.set !== undefined)) report(path, subject, `'${c}' is pure: it cannot change state or memory`);
    }
  }

  function checkRule(s: string, c: string, rule: unknown): void {
    const base = ['rules', s, c];
    const cases = casesOf(rule as never);
    const list = isCaseList(rule);
    for (const k of cases) {
      const path = list ? [...base, String(k.index)] : base;
      if (list) checkGuard((rule as readonly { when: Record<string, unknown> }[])[k.index]?.when ?? {}, c, path, `(${s}, ${c})`);
      checkOutcome(k.then, s, c, path);
    }
    // Exhaustive and unshadowed: enumerate every combination of the facts the guards test.
    const keys = [...new Set(cases.flatMap((k) => [...k.guard.keys()]))].filter((k) => m.factByName.has(k));
    const domains = keys.map((k) => m.factByName.get(k)?.values ?? []);
    const total = domains.reduce((n, d) => n * Math.max(1, d.length), 1);
    if (total > MAX_COMBINATIONS) {
      report(base, `(${s}, ${c})`, `guards test too many combinations (${total})`);
      return;
    }
    const used = new Set<number>();
    for (let i = 0; i < total; i++) {
      const combo = new Map<string, string>();
      let rest = i;
      keys.forEach((k, j) => {
        const d = domains[j] as readonly string[];
        combo.set(k, d[rest % d.length] as string);
        rest = Math.floor(rest / d.length);
      });
      const hit = cases.find((k) => [...k.guard].every(([f, vals]) => !m.factByName.has(f) || vals.has(combo.get(f) as string)));
      if (!hit) {
        const desc = [...combo].map(([k, v]) => `${k}=${v}`).join(', ');
        report(base, `(${s}, ${c})`, `not exhaustive: no case applies when ${desc}`);
        return;
      }
      used.add(hit.index);
    }
    for (const k of cases) {
      if (!used.has(k.index)) {
        report(list ? [...base, String(k.index)] : base, `(${s}, ${c})`, `case ${k.index} can never apply: earlier cases cover all its combinations`);
      }
    }
  }
}
