/**
 * The protocol generator: checks specs/protocol.ts and renders both ends of
 * the operator wire protocol (see docs/protocol.md):
 *   c/sb_protocol.h, c/sb_protocol.c   the shim's codec (C11)
 *   ts/protocol.ts                     the operator's codec
 *   docs/protocol-reference.md         the reference tables docs/protocol.md embeds
 */
import type { GenContext, Generator, Output, Problem } from '../framework.ts';
import type { AnyProtocol } from '../../specs/language/protocol.ts';
import { checkProtocol } from './check.ts';
import { buildModel } from './model.ts';
import { renderProtocol } from './render.ts';

/** Checks the `protocol` export of specs/index.ts, with locations from its defineProtocol literal. */
export function checkProtocolSpec(ctx: GenContext): Problem[] {
  return checkProtocol(ctx.specs.module.protocol, ctx.specs.locators.get('protocol'));
}

/** Renders a spec that passed checkProtocol. */
export function renderProtocolSpec(spec: AnyProtocol): Output[] {
  return renderProtocol(buildModel(spec));
}

export const protocolGenerator: Generator = {
  name: 'protocol',
  check: checkProtocolSpec,
  render: (ctx) => renderProtocolSpec(ctx.specs.module.protocol as AnyProtocol),
};
