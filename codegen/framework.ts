/**
 * The pieces every checker and generator shares: where a spec came from,
 * how problems are reported, and what a generator returns.
 */
import type { Node } from 'ts-morph';

/** A place in a spec's source, for error messages. */
export interface Where {
  readonly file: string; // relative to the project root when possible
  readonly line: number;
  readonly column: number;
}

/** One thing wrong with a spec. `subject` names the pair, call, field or message. */
export interface Problem {
  readonly where: Where;
  readonly subject: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.where.file}:${p.where.line}:${p.where.column}: ${p.subject}: ${p.message}`;
}

/**
 * Finds source positions inside one `defineX({...})` literal by a path of
 * property names, e.g. ['rules', 'connected', 'recv'].  When the exact node
 * cannot be found (the value came from a spread or a helper), it returns the
 * deepest enclosing node it did find, so a message still points near the cause.
 */
export interface Locator {
  readonly file: string;
  /**
   * Where the value at `path` is written.  With `needle`, the string literal
   * of that value inside it, when written literally there (e.g. the bad errno).
   */
  at(path: readonly string[], needle?: string): Where;
  /** Every property assignment named `name` directly inside the object at `path` (duplicates show up here). */
  occurrences(path: readonly string[], name: string): Where[];
  node(path: readonly string[]): Node | undefined;
}

/** A file a generator produces, relative to the output directory. */
export interface Output {
  readonly path: string;
  readonly content: string;
}

/** Context handed to every generator. */
export interface GenContext {
  /** The project root (absolute). */
  readonly root: string;
  /** Loaded spec values and locators. */
  readonly specs: import('./load.ts').LoadedSpecs;
}

/**
 * One generator per spec: it checks its spec (returning problems with
 * locations) and, when every check passed, renders its outputs.
 */
export interface Generator {
  readonly name: string;
  check(ctx: GenContext): Problem[];
  render(ctx: GenContext): Output[];
}
