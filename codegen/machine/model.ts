/**
 * A socket machine normalised for the generators: conditions and memory
 * become one list of "facts" with explicit value domains, rules become lists
 * of cases, and `decide()` picks the case that applies — the same choice the
 * shim's C dispatch makes from the generated tables.
 */
import type { Case, Machine, Outcome, Rule } from '../../specs/language/machine.ts';

export type AnyMachine = Machine<string, string, string, string>;
export type AnyOutcome = Outcome<string, string>;
export type AnyRule = Rule<string, string, string>;
export type AnyCase = Case<string, string, string>;

export interface Fact {
  readonly name: string;
  readonly kind: 'condition' | 'memory';
  readonly doc: string;
  readonly boolean: boolean;
  /** Values as strings ('false'/'true' for booleans); memory starts at values[0]. */
  readonly values: readonly string[];
}

export interface CaseModel {
  readonly index: number;
  /** fact → the values (as strings) for which the case applies */
  readonly guard: ReadonlyMap<string, ReadonlySet<string>>;
  readonly then: AnyOutcome;
}

export interface MachineModel {
  readonly spec: AnyMachine;
  readonly name: string;
  readonly states: readonly string[];
  readonly calls: readonly string[];
  readonly facts: readonly Fact[];
  readonly factByName: ReadonlyMap<string, Fact>;
  /** rules.get(state).get(call) */
  readonly rules: ReadonlyMap<string, ReadonlyMap<string, readonly CaseModel[]>>;
}

export function isCaseList(r: unknown): r is readonly AnyCase[] {
  return Array.isArray(r);
}

/** A guard value ('x', true, ['a','b']) as the set of value strings it allows. */
export function guardValues(v: unknown): Set<string> {
  return new Set((Array.isArray(v) ? v : [v]).map((x) => String(x)));
}

export function casesOf(rule: AnyRule): CaseModel[] {
  const raw: readonly AnyCase[] = isCaseList(rule) ? rule : [{ when: {}, then: rule as AnyOutcome }];
  return raw.map((c, index) => ({
    index,
    guard: new Map(Object.entries(c.when ?? {}).map(([k, v]) => [k, guardValues(v)])),
    then: c.then,
  }));
}

export function buildModel(spec: AnyMachine): MachineModel {
  const facts: Fact[] = [];
  for (const [name, d] of Object.entries(spec.conditions ?? {})) {
    facts.push({ name, kind: 'condition', doc: d.doc, boolean: !d.values, values: d.values ? [...d.values] : ['false', 'true'] });
  }
  for (const [name, d] of Object.entries(spec.memory ?? {})) {
    facts.push({ name, kind: 'memory', doc: d.doc, boolean: !d.values, values: d.values ? [...d.values] : ['false', 'true'] });
  }
  const states = Object.keys(spec.states ?? {});
  const calls = Object.keys(spec.calls ?? {});
  const rules = new Map<string, Map<string, CaseModel[]>>();
  for (const s of states) {
    const row = new Map<string, CaseModel[]>();
    const raw = (spec.rules as Record<string, Record<string, AnyRule>> | undefined)?.[s] ?? {};
    for (const c of calls) if (raw[c] !== undefined) row.set(c, casesOf(raw[c]));
    rules.set(s, row);
  }
  return { spec, name: spec.name, states, calls, facts, factByName: new Map(facts.map((f) => [f.name, f])), rules };
}

/** The first case whose guard holds, given each fact's current value (as a string). */
export function decide(
  m: MachineModel,
  state: string,
  call: string,
  value: (fact: string) => string,
): CaseModel {
  const cases = m.rules.get(state)?.get(call);
  if (!cases) throw new Error(`${m.name}: no rule for (${state}, ${call})`);
  for (const c of cases) {
    let ok = true;
    for (const [fact, allowed] of c.guard) {
      if (!allowed.has(value(fact))) {
        ok = false;
        break;
      }
    }
    if (ok) return c;
  }
  throw new Error(`${m.name}: no case of (${state}, ${call}) applies`);
}

/** Initial memory: false, or the first listed value. */
export function initialMemory(m: MachineModel): Map<string, string> {
  return new Map(m.facts.filter((f) => f.kind === 'memory').map((f) => [f.name, f.values[0] as string]));
}
