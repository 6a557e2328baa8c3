/**
 * Renders the protocol model through the handlebars templates in
 * templates/.  Outputs are relative to the generated-sources directory
 * (build/gen): the C codec, the TypeScript codec and the reference tables
 * that docs/protocol.md embeds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Output } from '../framework.ts';
import type { ProtocolModel } from './model.ts';

const TEMPLATES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'templates');

/** Template file → output path under build/gen. */
export const OUTPUTS = [
  { template: 'sb_protocol.h.hbs', output: 'c/sb_protocol.h' },
  { template: 'sb_protocol.c.hbs', output: 'c/sb_protocol.c' },
  { template: 'protocol.ts.hbs', output: 'ts/protocol.ts' },
  { template: 'protocol.md.hbs', output: 'docs/protocol-reference.md' },
] as const;

function engine(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
  // Spec text inside generated comments: never let it close the comment.
  hb.registerHelper('comment', (text: unknown) => String(text).replace(/\*\//g, '* /'));
  // Spec text inside a markdown table cell.
  hb.registerHelper('md', (text: unknown) => String(text).replace(/\|/g, '\\|'));
  return hb;
}

export function renderProtocol(model: ProtocolModel): Output[] {
  const hb = engine();
  return OUTPUTS.map(({ template, output }) => {
    const source = fs.readFileSync(path.join(TEMPLATES, template), 'utf8');
    const render = hb.compile(source, { noEscape: true, strict: true });
    return { path: output, content: render(model) };
  });
}
