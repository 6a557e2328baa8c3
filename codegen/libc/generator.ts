/**
 * The libc generator: checks specs/libc.ts and renders the shim's
 * interposition layer (see docs/libc-surface.md):
 *   c/sb_libc_list.h  X-macro list of every interposed symbol
 *   c/sb_libc.h       libc_<name>() and sb_<name>() declarations
 *   c/sb_libc.c       the real-symbol table and libc_<name>() callers
 *   c/sb_interpose.c  the exported wrappers
 *   c/sb_libc.map     the version script: exactly these exports, and the shim's own API
 *   c/sb_api_check.c  the API's prototypes repeated after its headers (a drift fails to compile)
 */
import type { GenContext, Generator, Output, Problem } from '../framework.ts';
import type { Libc } from '../../specs/language/libc.ts';
import { checkLibc } from './check.ts';
import { buildModel } from './model.ts';
import { renderLibc } from './render.ts';

/** Checks the `libc` export of specs/index.ts, with locations from its defineLibc literal. */
export function checkLibcSpec(ctx: GenContext): Problem[] {
  return checkLibc(ctx.specs.module.libc, ctx.specs.locators.get('libc'));
}

export function renderLibcSpec(ctx: GenContext): Output[] {
  return renderLibc(buildModel(ctx.specs.module.libc as Libc));
}

export const libcGenerator: Generator = {
  name: 'libc',
  check: checkLibcSpec,
  render: renderLibcSpec,
};
