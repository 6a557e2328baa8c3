/**
 * Loads the specs twice: as values (by importing `specs/index.ts`) and as
 * syntax (with ts-morph), so checks run on the data while their messages
 * point at the file and line that wrote it.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  Node,
  Project,
  SyntaxKind,
  type ObjectLiteralExpression,
  type Expression,
} from 'ts-morph';
import type { Locator, Problem, Where } from './framework.ts';

export const DEFINERS = ['defineMachine', 'defineLibc', 'defineProtocol'] as const;

export interface LoadedSpecs {
  readonly specsDir: string;
  /** The module namespace of specs/index.ts. */
  readonly module: Record<string, unknown>;
  /** One locator per `defineX({ name: '…' })` literal, keyed by that name. */
  readonly locators: ReadonlyMap<string, Locator>;
  /** TypeScript's own complaints about the spec files. */
  readonly typeProblems: readonly Problem[];
}

export async function loadSpecs(specsDir: string, root: string): Promise<LoadedSpecs> {
  const project = new Project({
    compilerOptions: {
      strict: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      module: 199 /* NodeNext */,
      moduleResolution: 99 /* NodeNext */,
      target: 9 /* ES2022 */,
      skipLibCheck: true,
      types: [],
    },
    skipAddingFilesFromTsConfig: true,
  });
  project.addSourceFilesAtPaths(path.join(specsDir, '**/*.ts'));
  // Inside the project: relative to its root; a copy elsewhere (tests): as if it were specs/.
  const rel = (f: string) => {
    const r = path.relative(root, f);
    return r.startsWith('..') ? path.relative(path.dirname(specsDir), f) : r;
  };

  const typeProblems: Problem[] = [];
  for (const d of project.getPreEmitDiagnostics()) {
    const sf = d.getSourceFile();
    if (!sf) continue;
    const start = d.getStart() ?? 0;
    const { line, column } = sf.getLineAndColumnAtPos(start);
    const text = d.getMessageText();
    const message = typeof text === 'string' ? text : text.getMessageText();
    typeProblems.push({
      where: { file: rel(sf.getFilePath()), line, column },
      subject: `TS${d.getCode()}`,
      message,
    });
  }

  const locators = new Map<string, Locator>();
  for (const sf of project.getSourceFiles()) {
    for (const call of sf.getDescendantsOfKind(SyntaxKind.CallExpression)) {
      const callee = call.getExpression().getText();
      if (!(DEFINERS as readonly string[]).includes(callee)) continue;
      const arg = call.getArguments()[0];
      if (!arg || !Node.isObjectLiteralExpression(arg)) continue;
      const nameProp = arg.getProperty('name');
      if (!nameProp || !Node.isPropertyAssignment(nameProp)) continue;
      const init = nameProp.getInitializer();
      if (!init || !Node.isStringLiteral(init)) continue;
      locators.set(init.getLiteralValue(), makeLocator(arg, rel(sf.getFilePath())));
    }
  }

  const module = (await import(pathToFileURL(path.join(specsDir, 'index.ts')).href)) as Record<string, unknown>;
  return { specsDir, module, locators, typeProblems };
}

function whereOf(node: Node, file: string): Where {
  const { line, column } = node.getSourceFile().getLineAndColumnAtPos(node.getStart());
  return { file, line, column };
}

/** Follows identifiers to the object or array literal they were declared with. */
function resolveValue(expr: Expression | undefined): Expression | undefined {
  let e = expr;
  for (let hops = 0; e && hops < 8; hops++) {
    if (Node.isAsExpression(e) || Node.isSatisfiesExpression(e) || Node.isParenthesizedExpression(e)) {
      e = e.getExpression();
      continue;
    }
    if (Node.isIdentifier(e)) {
      const decl = e.getSymbol()?.getDeclarations()[0];
      if (decl && Node.isVariableDeclaration(decl)) {
        e = decl.getInitializer();
        continue;
      }
      return e;
    }
    return e;
  }
  return e;
}

/** The direct child of an object or array literal for one path segment, if written literally. */
function child(container: Node, segment: string): { node: Node; value?: Expression } | undefined {
  if (Node.isObjectLiteralExpression(container)) {
    for (const p of container.getProperties()) {
      if (Node.isPropertyAssignment(p) && propName(p) === segment) return { node: p, value: p.getInitializer() };
      if (Node.isShorthandPropertyAssignment(p) && p.getName() === segment) {
        return { node: p, value: p.getNameNode() };
      }
    }
    return undefined;
  }
  if (Node.isArrayLiteralExpression(container) && /^\d+$/.test(segment)) {
    // After a spread (`...under(...)`) element positions no longer match value indexes.
    const elements = container.getElements();
    const index = Number(segment);
    if (elements.slice(0, index + 1).some((e) => Node.isSpreadElement(e))) return undefined;
    const el = elements[index];
    return el ? { node: el, value: el } : undefined;
  }
  return undefined;
}

function propName(p: Node): string | undefined {
  if (!Node.isPropertyAssignment(p)) return undefined;
  const n = p.getNameNode();
  if (Node.isStringLiteral(n) || Node.isNoSubstitutionTemplateLiteral(n)) return n.getLiteralValue();
  if (Node.isNumericLiteral(n)) return n.getLiteralText();
  return n.getText();
}

/** A spread (`...every([...], rule)`) that may have produced `segment`, for messages. */
function spreadFor(container: Node, segment: string): Node | undefined {
  if (!Node.isObjectLiteralExpression(container)) return undefined;
  for (const p of container.getProperties()) {
    if (!Node.isSpreadAssignment(p)) continue;
    // `every([..., 'segment', ...], rule)` names its keys literally: prefer the spread that lists it.
    if (p.getText().includes(`'${segment}'`) || p.getText().includes(`"${segment}"`)) return p;
  }
  return container.getProperties().find((p) => Node.isSpreadAssignment(p));
}

function makeLocator(root: ObjectLiteralExpression, file: string): Locator {
  const walk = (segments: readonly string[]): { node: Node; exact: boolean } => {
    let node: Node = root;
    let container: Expression | undefined = root;
    for (const seg of segments) {
      const c = container ? child(container, seg) : undefined;
      if (!c) {
        const s = container ? spreadFor(container, seg) : undefined;
        return { node: s ?? node, exact: false };
      }
      node = c.node;
      container = resolveValue(c.value);
    }
    return { node, exact: true };
  };
  const literal = (node: Node, needle: string): Node | undefined => {
    const scope = Node.isPropertyAssignment(node) ? (node.getInitializer() ?? node) : node;
    return scope
      .getDescendantsOfKind(SyntaxKind.StringLiteral)
      .find((l) => l.getLiteralValue() === needle);
  };
  return {
    file,
    at: (p, needle) => {
      const { node } = walk(p);
      const hit = needle !== undefined ? literal(node, needle) : undefined;
      return whereOf(hit ?? node, file);
    },
    node: (p) => {
      const w = walk(p);
      return w.exact ? w.node : undefined;
    },
    occurrences: (p, name) => {
      const w = walk(p);
      let container: Node | undefined = w.node;
      if (Node.isPropertyAssignment(container)) container = resolveValue(container.getInitializer());
      if (!container || !Node.isObjectLiteralExpression(container)) return [];
      return container
        .getProperties()
        .filter((q) => propName(q) === name || (Node.isShorthandPropertyAssignment(q) && q.getName() === name))
        .map((q) => whereOf(q, file));
    },
  };
}
