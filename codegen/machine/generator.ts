/**
 * The socket-machine generator: checks every machine exported by
 * specs/index.ts and renders its C tables plus the decision vectors.
 */
import type { Generator, GenContext } from '../framework.ts';
import { checkMachine, isMachine } from './check.ts';
import { buildModel, type AnyMachine } from './model.ts';
import { renderMachine, renderVectors } from './render.ts';

export function machinesOf(ctx: GenContext): AnyMachine[] {
  return Object.values(ctx.specs.module).filter(isMachine);
}

/** Names the libc spec interposes, so a machine's `via` can be checked against it. */
function libcNames(ctx: GenContext): Set<string> | undefined {
  const libc = ctx.specs.module['libc'] as { functions?: readonly { name: string }[] } | undefined;
  return libc?.functions ? new Set(libc.functions.map((f) => f.name)) : undefined;
}

export const machineGenerator: Generator = {
  name: 'machine',
  check(ctx) {
    const libc = libcNames(ctx);
    return machinesOf(ctx).flatMap((m) => checkMachine(m, ctx.specs.locators.get(m.name), libc));
  },
  render(ctx) {
    const models = machinesOf(ctx).map(buildModel);
    return [
      ...models.flatMap((m) => renderMachine(m, ctx.specs.locators.get(m.name)?.file ?? 'specs/')),
      ...renderVectors(models),
    ];
  },
};
