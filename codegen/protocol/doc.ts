/**
 * Keeps docs/protocol.md's reference section equal to what the spec renders
 * (codegen also writes it to build/gen/docs/protocol-reference.md):
 *
 *   npx tsx codegen/protocol/doc.ts           rewrite the section in place
 *   npx tsx codegen/protocol/doc.ts --check   exit 1 if it is stale
 *
 * codegen/test/protocol.test.ts fails while the committed section is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { protocol } from '../../specs/protocol.ts';
import type { AnyProtocol } from '../../specs/language/protocol.ts';
import { renderProtocolSpec } from './generator.ts';

export const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/protocol.md');
export const BEGIN = '<!-- BEGIN reference: generated from specs/protocol.ts by codegen/protocol/doc.ts; do not edit -->';
export const END = '<!-- END reference -->';

/** The reference tables as the spec renders them. */
export function renderedReference(spec: AnyProtocol = protocol as AnyProtocol): string {
  const out = renderProtocolSpec(spec).find((o) => o.path === 'docs/protocol-reference.md');
  if (!out) throw new Error('protocol generator rendered no docs/protocol-reference.md');
  return out.content;
}

/** The section between the markers, or undefined when the markers are missing. */
export function embeddedReference(doc: string): string | undefined {
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) return undefined;
  return doc.slice(from + BEGIN.length, to).replace(/^\n/, '').replace(/\n$/, '');
}

function main(): void {
  const doc = fs.readFileSync(DOC, 'utf8');
  const want = renderedReference().replace(/\n$/, '');
  const have = embeddedReference(doc);
  if (have === undefined) throw new Error(`${DOC}: markers missing (${BEGIN} … ${END})`);
  if (have === want) {
    console.log('docs/protocol.md: reference is current');
    return;
  }
  if (process.argv.includes('--check')) {
    console.error('docs/protocol.md: reference is stale; run npx tsx codegen/protocol/doc.ts');
    process.exit(1);
  }
  const from = doc.indexOf(BEGIN) + BEGIN.length;
  fs.writeFileSync(DOC, `${doc.slice(0, from)}\n${want}\n${doc.slice(doc.indexOf(END))}`);
  console.log('docs/protocol.md: reference updated');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
