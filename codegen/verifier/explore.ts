/**
 * Explores call sequences from a socket machine and predicts every step.
 *
 * Breadth-first over (state, memory, world) from the initial state, for each
 * family and blocking mode, trying every argument variant of every call.  A
 * sequence is kept when its last step does something no kept sequence did
 * before: a new (state, memory, call, case, variant).  Breadth-first order
 * makes each kept sequence the shortest way to reach what it tests.
 */
import { decide, initialMemory, type AnyOutcome, type MachineModel } from '../machine/model.ts';
import { POLL_BITS } from '../machine/render.ts';
import type { Addr, SeqParams, World } from './world.ts';
import type { Variant } from './vocabulary.ts';

export interface AddrExpect {
  /** null: the call succeeds and shows `addr`; else the errno it fails with. */
  readonly err: string | null;
  readonly addr: Addr;
}

export interface Step {
  readonly variant: Variant;
  readonly state: string;
  readonly next: string;
  readonly call: string;
  readonly caseIndex: number;
  /** The return value: a number, or 'fd' for any descriptor. -1 means failure with `err`. */
  readonly ret: number | 'fd';
  readonly err: string | null;
  readonly blocks: boolean;
  readonly sigpipe: boolean;
  /** SO_ERROR's value ('none' for 0) when the step reads it. */
  readonly soerror: string | null;
  readonly tag: number | null;
  readonly source: Addr | null;
  readonly msgFlags: number | null;
  readonly acceptPeer: boolean;
  /** accept: the sequence continues with the new socket. */
  readonly follow: boolean;
  /** Observed after the step. */
  readonly revents: number;
  readonly sockname: AddrExpect;
  readonly peername: AddrExpect;
}

export interface Sequence {
  readonly machine: string;
  readonly type: 'SOCK_STREAM' | 'SOCK_DGRAM';
  readonly params: SeqParams;
  readonly steps: readonly Step[];
}

interface Node<W> {
  /** The socket under test came from socket() or from accept() (sequences that follow it). */
  readonly accepted: boolean;
  readonly state: string;
  readonly memory: ReadonlyMap<string, string>;
  readonly world: W;
  readonly steps: readonly Step[];
}

export interface ExploreOptions {
  /** Longest sequence. */
  readonly maxDepth: number;
  /** Stop expanding after this many distinct nodes per parameter set. */
  readonly maxNodes: number;
}

export const DEFAULT_EXPLORE: ExploreOptions = { maxDepth: 7, maxNodes: 4000 };

const PARAMS: readonly SeqParams[] = [
  { family: 4, nonblock: false },
  { family: 4, nonblock: true },
  { family: 6, nonblock: false },
  { family: 6, nonblock: true },
];

function memKey(mem: ReadonlyMap<string, string>): string {
  return [...mem].filter(([, v]) => v !== 'false' && v !== 'none').map(([k, v]) => (v === 'true' ? k : `${k}=${v}`)).join('+');
}

/** One step from a node, or null when the spec says the pair cannot happen or the harness cannot do it. */
export function step<W>(m: MachineModel, world: World<W>, p: SeqParams, n: Node<W>, v: Variant): Node<W> | null {
  if (!world.feasible(n.world, v, n.state)) return null;
  const fact = (f: string): string => n.memory.get(f) ?? world.condition(n.world, v, p, f);
  const k = decide(m, n.state, v.call, fact);
  const o: AnyOutcome = k.then;
  if (o.impossible !== undefined) return null;
  // Following an accepted socket: the sequence goes on with the new socket, in the state it spawns in.
  const follow = v.follow && o.spawns !== undefined;
  if (v.follow && !follow) return null;
  const listenerNext = o.to ?? n.state;
  const listenerMemory = new Map(n.memory);
  for (const [key, val] of Object.entries(o.set ?? {})) listenerMemory.set(key, String(val));

  const applied = world.apply({ world: n.world, variant: v, params: p, state: n.state, next: listenerNext, outcome: o, memory: n.memory, memoryAfter: listenerMemory });
  let next = listenerNext;
  let memoryAfter = listenerMemory;
  let eff = applied;
  if (follow) {
    if (!world.adopt) throw new Error(`${m.name}: the world cannot follow a spawned socket`);
    next = o.spawns as string;
    memoryAfter = initialMemory(m);
    eff = { world: world.adopt(applied.world, v) };
  }
  const pendingErr = n.memory.get('error') ?? 'none';

  let ret: number | 'fd' = 0;
  let err: string | null = null;
  if (o.fails !== undefined) {
    ret = -1;
    err = o.fails === 'pending' ? pendingErr : o.fails;
    if (err === 'none') throw new Error(`${m.name}: (${n.state}, ${v.call}) fails with the pending error, but none is pending`);
  } else if (o.blocks && o.returns !== 'received') {
    ret = -1;
    err = 'EINTR';
  } else if (o.returns === 'fd') {
    ret = 'fd';
  } else if (o.returns === 'sent' || o.returns === 'received') {
    if (eff.count === undefined) throw new Error(`${m.name}: the world gave no count for (${n.state}, ${v.call})`);
    ret = eff.count;
  }

  // Observation after the step: poll, getsockname, getpeername in the new state.
  const after = (f: string): string => memoryAfter.get(f) ?? world.condition(eff.world, null, p, f);
  let revents = 0;
  for (const r of m.spec.states[next]?.poll ?? []) {
    if (typeof r === 'string') revents |= POLL_BITS[r] ?? 0;
    else if (Object.entries(r.when).every(([f, val]) => (Array.isArray(val) ? val.map(String) : [String(val)]).includes(after(f)))) {
      revents |= POLL_BITS[r.flag] ?? 0;
    }
  }
  const observe = (call: 'getsockname' | 'getpeername', addr: Addr): AddrExpect => {
    const o2 = decide(m, next, call, after).then;
    return o2.fails !== undefined ? { err: o2.fails === 'pending' ? pendingErr : o2.fails, addr } : { err: null, addr };
  };

  const s: Step = {
    variant: v,
    state: n.state,
    next,
    call: v.call,
    caseIndex: k.index,
    ret,
    err,
    blocks: o.blocks === true,
    sigpipe: o.raises === 'SIGPIPE',
    soerror: o.returns === 'pendingError' ? pendingErr : null,
    tag: eff.tag ?? null,
    source: eff.source ?? null,
    msgFlags: eff.msgFlags ?? null,
    acceptPeer: eff.acceptPeer ?? false,
    follow,
    revents,
    sockname: observe('getsockname', world.sockname(eff.world)),
    peername: observe('getpeername', world.peername(eff.world)),
  };
  return { accepted: n.accepted || follow, state: next, memory: memoryAfter, world: eff.world, steps: [...n.steps, s] };
}

export interface Exploration {
  readonly sequences: readonly Sequence[];
  /** Every (state, call) pair whose rule is not entirely impossible, with how many kept steps exercise it. */
  readonly coverage: ReadonlyMap<string, number>;
  /** Pairs the spec allows but no sequence reaches. */
  readonly uncovered: readonly string[];
}

export function explore<W>(m: MachineModel, world: World<W>, opts: ExploreOptions = DEFAULT_EXPLORE): Exploration {
  const sequences: Sequence[] = [];
  const type = m.spec.type;
  // Memory novelty counts once across families and blocking modes; variants count per parameter set.
  const memoryFeatures = new Set<string>();
  for (const p of PARAMS) {
    if (!m.spec.families.includes(p.family === 4 ? 'AF_INET' : 'AF_INET6')) continue;
    const features = new Set<string>();
    const seen = new Set<string>();
    let frontier: Node<W>[] = [{ accepted: false, state: m.spec.initial, memory: initialMemory(m), world: world.initial(p), steps: [] }];
    for (let depth = 0; depth < opts.maxDepth && frontier.length > 0; depth++) {
      const nextFrontier: Node<W>[] = [];
      for (const n of frontier) {
        for (const call of m.calls) {
          for (const v of world.variants(call, p)) {
            const child = step(m, world, p, n, v);
            if (!child) continue;
            const last = child.steps[child.steps.length - 1] as Step;
            // Two kinds of novelty: a call variant not yet tried in this state and case,
            // and a case not yet seen with this memory (a pending error, an early shutdown).
            // An accepted socket is tested in its own right: the same calls, another origin.
            const origin = n.accepted ? 'accepted|' : '';
            const byVariant = `${origin}${n.state}|${call}|${last.caseIndex}|${v.label}`;
            const byMemory = `${origin}${n.state}|${memKey(n.memory)}|${call}|${last.caseIndex}`;
            if (!features.has(byVariant) || !memoryFeatures.has(byMemory)) {
              features.add(byVariant);
              memoryFeatures.add(byMemory);
              sequences.push({ machine: m.name, type, params: p, steps: child.steps });
            }
            const key = `${child.accepted ? 'a' : ''}${child.state}|${memKey(child.memory)}|${world.key(child.world)}`;
            if (!seen.has(key) && seen.size < opts.maxNodes) {
              seen.add(key);
              nextFrontier.push(child);
            }
          }
        }
      }
      frontier = nextFrontier;
    }
  }

  const coverage = new Map<string, number>();
  for (const s of m.states) {
    for (const c of m.calls) {
      const cases = m.rules.get(s)?.get(c) ?? [];
      if (cases.some((k) => k.then.impossible === undefined)) coverage.set(`${s}|${c}`, 0);
    }
  }
  for (const seq of sequences) {
    for (const st of seq.steps) {
      const key = `${st.state}|${st.call}`;
      coverage.set(key, (coverage.get(key) ?? 0) + 1);
    }
  }
  const uncovered = [...coverage].filter(([, n]) => n === 0).map(([k]) => k.replace('|', ', '));
  return { sequences, coverage, uncovered };
}
