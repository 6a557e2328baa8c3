/**
 * The verifier generator: explores every socket machine with its world and
 * renders the sequences and predictions as C data for verifier/.  A pair the
 * spec allows but no sequence reaches fails the check, so the verifier's
 * coverage cannot silently shrink when the spec changes.
 */
import type { Generator, GenContext, Problem } from '../framework.ts';
import { machinesOf } from '../machine/generator.ts';
import { buildModel, type MachineModel } from '../machine/model.ts';
import { explore, type Exploration } from './explore.ts';
import { renderVerifier } from './render.ts';
import type { World } from './world.ts';
import { dgramWorld } from './world-dgram.ts';
import { streamWorld } from './world-stream.ts';

const WORLDS: Readonly<Record<string, World<unknown>>> = {
  SOCK_STREAM: streamWorld as World<unknown>,
  SOCK_DGRAM: dgramWorld as World<unknown>,
};

let cached: { key: unknown; runs: { model: MachineModel; exploration: Exploration }[] } | undefined;

/** Explores once per loaded spec module (check and render both need it). */
export function explorations(ctx: GenContext): { model: MachineModel; exploration: Exploration }[] {
  if (cached?.key === ctx.specs.module) return cached.runs;
  const runs = machinesOf(ctx).map((spec) => {
    const model = buildModel(spec);
    const world = WORLDS[spec.type];
    if (!world) throw new Error(`verifier: no world for ${spec.type}`);
    return { model, exploration: explore(model, world) };
  });
  cached = { key: ctx.specs.module, runs };
  return runs;
}

export const verifierGenerator: Generator = {
  name: 'verifier',
  check(ctx) {
    const problems: Problem[] = [];
    let runs;
    try {
      runs = explorations(ctx);
    } catch (e) {
      // A spec the world cannot follow (data received where no connection exists, a condition no world answers).
      const msg = e instanceof Error ? e.message : String(e);
      const m = machinesOf(ctx).find((x) => msg.startsWith(x.name)) ?? machinesOf(ctx)[0];
      const loc = m ? ctx.specs.locators.get(m.name) : undefined;
      problems.push({ where: loc?.at(['rules']) ?? { file: 'specs', line: 0, column: 0 }, subject: `${m?.name ?? ''} verifier`, message: msg });
      return problems;
    }
    for (const { model, exploration } of runs) {
      const loc = ctx.specs.locators.get(model.name);
      for (const pair of exploration.uncovered) {
        const [s, c] = pair.split(', ') as [string, string];
        problems.push({
          where: loc?.at(['rules', s, c]) ?? { file: 'specs', line: 0, column: 0 },
          subject: `${model.name}: (${pair})`,
          message: 'the spec allows this pair but the verifier cannot reach it; make it reachable or mark it impossible',
        });
      }
    }
    return problems;
  },
  render(ctx) {
    return renderVerifier(explorations(ctx));
  },
};
