/**
 * Renders a socket machine into C tables (sb_machine_<name>.{h,c}) for the
 * shim's dispatch, and test vectors that let a C test prove the tables make
 * the same decisions as codegen's TypeScript reading of the spec.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Output } from '../framework.ts';
import { linuxErrnos } from '../errno.ts';
import { decide, type CaseModel, type MachineModel } from './model.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const template = (name: string) =>
  Handlebars.compile(fs.readFileSync(path.join(HERE, 'templates', name), 'utf8'), { noEscape: true, strict: true });

export const POLL_BITS: Readonly<Record<string, number>> = { IN: 0x1, PRI: 0x2, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20, RDHUP: 0x2000 };
const POLL_C: Readonly<Record<string, string>> = { IN: 'POLLIN', PRI: 'POLLPRI', OUT: 'POLLOUT', ERR: 'POLLERR', HUP: 'POLLHUP', NVAL: 'POLLNVAL', RDHUP: 'POLLRDHUP' };
const RETURNS_C: Readonly<Record<string, string>> = {
  zero: 'SB_RETURNS_ZERO', fd: 'SB_RETURNS_FD', sent: 'SB_RETURNS_SENT', received: 'SB_RETURNS_RECEIVED', eof: 'SB_RETURNS_EOF',
  sockname: 'SB_RETURNS_SOCKNAME', peername: 'SB_RETURNS_PEERNAME', pendingError: 'SB_RETURNS_PENDING_ERROR',
};
const LOCAL_C: Readonly<Record<string, string>> = {
  bind: 'SB_LOCAL_BIND', autobind: 'SB_LOCAL_AUTOBIND', connect: 'SB_LOCAL_CONNECT', refused: 'SB_LOCAL_REFUSED', disconnect: 'SB_LOCAL_DISCONNECT',
};

/** camelCase → UPPER_SNAKE for C enumerators. */
export function cName(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
}

/** Keeps generated comments from ending early. */
const comment = (s: string) => s.replace(/\*\//g, '* /');

interface TermView { readonly fact: number; readonly mask: string }

export function renderMachine(m: MachineModel, file: string): Output[] {
  const factIndex = new Map(m.facts.map((f, i) => [f.name, i]));
  const errnos = linuxErrnos();

  // Term and assignment arrays are deduplicated by content.
  const termIds = new Map<string, string>();
  const terms: { id: string; terms: TermView[] }[] = [];
  const termsFor = (guard: ReadonlyMap<string, ReadonlySet<string>>): { n: number; ref: string } => {
    const list: TermView[] = [...guard].map(([fact, vals]) => {
      const f = m.factByName.get(fact);
      let mask = 0;
      for (const v of vals) mask |= 1 << (f?.values.indexOf(v) ?? 0);
      return { fact: factIndex.get(fact) ?? 0, mask: `0x${(mask >>> 0).toString(16)}u` };
    });
    if (list.length === 0) return { n: 0, ref: 'NULL' };
    const key = JSON.stringify(list);
    let id = termIds.get(key);
    if (!id) {
      id = `terms_${terms.length}`;
      termIds.set(key, id);
      terms.push({ id, terms: list });
    }
    return { n: list.length, ref: id };
  };
  const assignIds = new Map<string, string>();
  const assigns: { id: string; assigns: { fact: number; value: number }[] }[] = [];
  const assignsFor = (set: Readonly<Record<string, unknown>> | undefined): { n: number; ref: string } => {
    const list = Object.entries(set ?? {}).map(([k, v]) => ({
      fact: factIndex.get(k) ?? 0,
      value: m.factByName.get(k)?.values.indexOf(String(v)) ?? 0,
    }));
    if (list.length === 0) return { n: 0, ref: 'NULL' };
    const key = JSON.stringify(list);
    let id = assignIds.get(key);
    if (!id) {
      id = `set_${assigns.length}`;
      assignIds.set(key, id);
      assigns.push({ id, assigns: list });
    }
    return { n: list.length, ref: id };
  };

  const caseView = (k: CaseModel) => {
    const o = k.then;
    const t = termsFor(k.guard);
    const a = assignsFor(o.set);
    let fails = '0';
    if (o.fails === 'pending') fails = 'SB_FAILS_PENDING';
    else if (o.fails !== undefined && errnos.has(o.fails)) fails = o.fails;
    return {
      nterms: t.n,
      terms: t.ref,
      returns: o.returns ? RETURNS_C[o.returns] : 'SB_RETURNS_NOTHING',
      fails,
      to: o.to !== undefined ? `SB_${cName(m.name)}_S_${cName(o.to)}` : 'SB_STATE_UNCHANGED',
      spawns: o.spawns !== undefined ? `SB_${cName(m.name)}_S_${cName(o.spawns)}` : 'SB_STATE_UNCHANGED',
      local: o.local ? LOCAL_C[o.local] : 'SB_LOCAL_UNCHANGED',
      blocks: String(o.blocks === true),
      impossible: String(o.impossible !== undefined),
      sigpipe: String(o.raises === 'SIGPIPE'),
      nset: a.n,
      set: a.ref,
    };
  };

  const rules = m.states.flatMap((s) =>
    m.calls.map((c) => ({
      id: `${s}_${c}`,
      state: s,
      call: c,
      cases: (m.rules.get(s)?.get(c) ?? []).map(caseView),
    })),
  );
  const readiness = m.states.map((s) => ({
    state: s,
    items: (m.spec.states[s]?.poll ?? []).map((r) => {
      const flag = typeof r === 'string' ? r : r.flag;
      const guard = typeof r === 'string' ? new Map() : new Map(Object.entries(r.when).map(([k, v]) => [k, new Set((Array.isArray(v) ? v : [v]).map(String))]));
      const t = termsFor(guard);
      return { flag: POLL_C[flag] ?? '0', nterms: t.n, terms: t.ref };
    }),
  }));

  const view = {
    file,
    name: m.name,
    NAME: cName(m.name),
    doc: comment(m.spec.doc),
    type: m.spec.type,
    initial: `SB_${cName(m.name)}_S_${cName(m.spec.initial)}`,
    states: m.states.map((s) => ({
      name: s,
      C: cName(s),
      doc: comment(m.spec.states[s]?.doc ?? ''),
      nready: m.spec.states[s]?.poll.length ?? 0,
      ready: (m.spec.states[s]?.poll.length ?? 0) > 0 ? `ready_${s}` : 'NULL',
    })),
    calls: m.calls.map((c) => ({ name: c, C: cName(c), doc: comment(m.spec.calls[c]?.doc ?? '') })),
    facts: m.facts.map((f) => ({
      name: f.name,
      C: cName(f.name),
      kind: f.kind,
      doc: comment(f.doc),
      boolean: f.boolean,
      memory: String(f.kind === 'memory'),
      values: f.values.map((v) => ({ C: cName(v), toString: () => v })),
    })),
    factValues: m.facts.map((f) => ({ name: f.name, values: f.values })),
    terms,
    assigns,
    readiness: readiness.filter((r) => r.items.length > 0),
    rules,
  };
  return [
    { path: `c/sb_machine_${m.name}.h`, content: template('machine.h.hbs')(view) },
    { path: `c/sb_machine_${m.name}.c`, content: template('machine.c.hbs')(view) },
  ];
}

/** A deterministic PRNG (mulberry32), so generated vectors do not change between builds. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random (state, call, facts) points with the case TypeScript's decide()
 * picks and the poll mask the state's readiness gives; the C test checks
 * that the generated tables agree on every one.
 */
export function renderVectors(models: readonly MachineModel[], perMachine = 4000): Output[] {
  const lines: string[] = [];
  const rnd = prng(0x5b17c4);
  const maxFacts = Math.max(...models.map((m) => m.facts.length));
  for (const m of models) {
    for (let i = 0; i < perMachine; i++) {
      const s = Math.floor(rnd() * m.states.length);
      const c = Math.floor(rnd() * m.calls.length);
      const values = m.facts.map((f) => Math.floor(rnd() * f.values.length));
      const val = (fact: string) => {
        const idx = m.facts.findIndex((f) => f.name === fact);
        return m.facts[idx]?.values[values[idx] as number] as string;
      };
      const k = decide(m, m.states[s] as string, m.calls[c] as string, val);
      let poll = 0;
      for (const r of m.spec.states[m.states[s] as string]?.poll ?? []) {
        if (typeof r === 'string') poll |= POLL_BITS[r] ?? 0;
        else if (Object.entries(r.when).every(([f, v]) => (Array.isArray(v) ? v.map(String) : [String(v)]).includes(val(f)))) {
          poll |= POLL_BITS[r.flag] ?? 0;
        }
      }
      lines.push(`\t{ &sb_machine_${m.name}, ${s}, ${c}, { ${values.join(', ')} }, ${k.index}, 0x${poll.toString(16)} },`);
    }
  }
  const content = `/* Generated by codegen: decisions of codegen/machine/model.ts, for shim/tests/machine_test.c. */
${models.map((m) => `#include "sb_machine_${m.name}.h"`).join('\n')}
#include "sb_vectors_machine.h"

const struct sb_machine_vector sb_machine_vectors[] = {
${lines.join('\n')}
};
const unsigned sb_machine_vector_count = ${lines.length};
`;
  const header = `/* Generated by codegen: do not edit. */
#ifndef SB_VECTORS_MACHINE_H
#define SB_VECTORS_MACHINE_H
#include "machine.h"
#define SB_VECTOR_MAX_FACTS ${maxFacts}
struct sb_machine_vector {
	const struct sb_machine *machine;
	unsigned state, call;
	unsigned char facts[SB_VECTOR_MAX_FACTS];
	unsigned expected_case;
	unsigned expected_poll;
};
extern const struct sb_machine_vector sb_machine_vectors[];
extern const unsigned sb_machine_vector_count;
#endif
`;
  return [
    { path: 'c/sb_vectors_machine.c', content },
    { path: 'c/sb_vectors_machine.h', content: header },
  ];
}
