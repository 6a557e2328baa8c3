/**
 * Renders the libc model through the handlebars templates in ./templates.
 * Output paths are relative to build/gen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import type { Output } from '../framework.ts';
import type { LibcModel } from './model.ts';
import { GROUPS } from './check.ts';

const TEMPLATES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'templates');

/** Template file → output path. */
const OUTPUTS: readonly [string, string][] = [
  ['sb_libc_list.h.hbs', 'c/sb_libc_list.h'],
  ['sb_libc.h.hbs', 'c/sb_libc.h'],
  ['sb_libc.c.hbs', 'c/sb_libc.c'],
  ['sb_interpose.c.hbs', 'c/sb_interpose.c'],
  ['sb_libc.map.hbs', 'c/sb_libc.map'],
  ['sb_api_check.c.hbs', 'c/sb_api_check.c'],
];

function handlebars(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  // Text from the spec inside a C comment: it must not end the comment.
  hb.registerHelper('c', (text: unknown) => String(text).replaceAll('*/', '* /'));
  return hb;
}

export function renderLibc(model: LibcModel): Output[] {
  const hb = handlebars();
  const view = {
    ...model,
    entries: model.entries.map((e) => ({ ...e, doc: e.doc.replaceAll('*/', '* /') })),
    api: model.api.map((f) => ({
      ...f,
      doc: f.doc.replaceAll('*/', '* /'),
      paramList: f.params.length ? f.params.join(', ') : 'void',
    })),
    hasByCommand: model.oneArgVariadics.some((v) => v.command !== undefined),
    // Wrappers in spec order, grouped; tail-jump stubs are assembly, rendered separately.
    groups: GROUPS.map((name) => ({
      name,
      exports: model.exports.filter((e) => e.group === name && e.kind !== 'tail-jump'),
    })).filter((g) => g.exports.length > 0),
  };
  return OUTPUTS.map(([template, out]) => {
    const source = fs.readFileSync(path.join(TEMPLATES, template), 'utf8');
    const render = hb.compile(source, { noEscape: true, strict: true });
    return { path: out, content: render(view) };
  });
}
