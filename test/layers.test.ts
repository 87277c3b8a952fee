/**
 * Keeps every import pointing down the layers of ARCHITECTURE.md's table: each folder imports only the layers
 * its row names, and no chain of value imports runs in a cycle. A new folder fails here until it gets a row
 * in the table and a rule below.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..');

type Layer =
  | 'contract'
  | 'workflows'
  | 'config'
  | 'security'
  | 'analytics'
  | 'activities'
  | 'client'
  | 'connectors'
  | 'sinks'
  | 'cli'
  | 'worker'
  | 'ops'
  | 'root';

/** The layer of a repository path, or undefined for a file outside every layer. */
function layerOf(path: string): Layer | undefined {
  if (path.startsWith('workflows/')) return 'workflows';
  if (path.startsWith('activities/')) return 'activities';
  if (['src/config.ts', 'src/temporal-profile.ts', 'src/logger.ts', 'src/web-ui-links.ts'].includes(path))
    return 'config';
  if (path === 'src/index.ts') return 'root';
  const folder = /^src\/([^/]+)\//.exec(path)?.[1];
  const folders: Record<string, Layer> = {
    contract: 'contract',
    security: 'security',
    analytics: 'analytics',
    client: 'client',
    connectors: 'connectors',
    sinks: 'sinks',
    cli: 'cli',
    worker: 'worker',
    ops: 'ops',
  };
  return folder === undefined ? undefined : folders[folder];
}

/** What each layer may import with value imports (ARCHITECTURE.md → Layers, "May import"). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  contract: [],
  workflows: ['contract'],
  config: ['contract'],
  security: ['contract', 'config'],
  analytics: ['contract', 'config'],
  activities: ['contract', 'analytics'],
  client: ['contract', 'config', 'security'],
  connectors: ['contract', 'config', 'security', 'client'],
  sinks: ['contract', 'config', 'analytics'],
  cli: ['contract', 'config', 'security', 'client', 'analytics', 'connectors'],
  // One layer in two folders: createWorker checks the set-up (ops/setup.ts), the standalone worker falls back
  // to the demo handlers, and `npm start` runs a worker. The cycle check below keeps them apart file by file.
  // createWorker({ sources }) runs sources with runSource (connectors/source.ts, no broker library: the worker
  // entry loading none is measured by test/package.test.ts).
  worker: [
    'contract',
    'config',
    'security',
    'client',
    'analytics',
    'sinks',
    'activities',
    'connectors',
    'ops',
  ],
  ops: ['contract', 'config', 'security', 'client', 'analytics', 'sinks', 'activities', 'worker'],
  root: ['contract', 'config', 'security', 'client', 'analytics', 'sinks', 'worker', 'ops'],
};

/** Type-only imports allowed beyond MAY_IMPORT: they leave no `require` in the output. */
const MAY_IMPORT_TYPES: Partial<Record<Layer, readonly string[]>> = {
  // Workflow code sees its activities only through their types (the sandbox rule in eslint.config.mjs).
  workflows: ['activities/'],
  // The activities close over the worker's handler registry.
  activities: ['src/worker/handlers.ts', 'src/sinks/types.ts'],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Relative module specifiers of one file: static imports and re-exports, `import()`, `require()`. */
function importsOf(path: string, text: string): Array<{ spec: string; typeOnly: boolean }> {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const found: Array<{ spec: string; typeOnly: boolean }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal))
        found.push({ spec: arg.literal.text, typeOnly: true });
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0]!)
    ) {
      found.push({ spec: node.arguments[0].text, typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((i) => i.spec.startsWith('.'));
}

/** Every TypeScript file of the layered folders, by repository path. */
function layeredFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) files.set(path, readFileSync(join(root, path), 'utf8'));
    }
  };
  for (const dir of ['src', 'workflows', 'activities']) walk(dir);
  return files;
}

function resolveImport(files: Map<string, string>, from: string, spec: string): string {
  const base = posix.normalize(posix.join(posix.dirname(from), spec));
  const candidates = [base, `${base}.ts`, `${base}/index.ts`];
  return (
    candidates.find((c) => files.has(c)) ??
    candidates.find((c) => c.endsWith('.ts') && existsSync(join(root, c))) ??
    base
  );
}

function importGraph(files: Map<string, string>): Import[] {
  return [...files].flatMap(([from, text]) =>
    importsOf(from, text).map(({ spec, typeOnly }) => ({
      from,
      to: resolveImport(files, from, spec),
      typeOnly,
    })),
  );
}

/** Every import that runs against the table, as `from -> to (why)`. */
function layerViolations(files: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const path of files.keys())
    if (!layerOf(path))
      problems.push(`${path} is in no layer: give its folder a row in ARCHITECTURE.md and a rule`);
  for (const { from, to, typeOnly } of importGraph(files)) {
    const source = layerOf(from);
    const target = layerOf(to);
    if (!source || source === target) continue;
    if (!target) {
      problems.push(`${from} -> ${to} (outside every layer)`);
      continue;
    }
    if (MAY_IMPORT[source].includes(target)) continue;
    if (typeOnly && (MAY_IMPORT_TYPES[source] ?? []).some((allowed) => to.startsWith(allowed))) continue;
    problems.push(
      `${from} -> ${to} (${source} may not import ${typeOnly ? 'even the types of ' : ''}${target})`,
    );
  }
  return problems;
}

/** The cycles of value imports between files, each as `a -> b -> ... -> a`. */
function importCycles(files: Map<string, string>): string[] {
  const next = new Map<string, string[]>();
  for (const { from, to, typeOnly } of importGraph(files))
    if (!typeOnly && files.has(to)) next.set(from, [...(next.get(from) ?? []), to]);
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') cycles.push([...path.slice(path.indexOf(to)), to].join(' -> '));
      else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of [...files.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('layers', () => {
  const files = layeredFiles();

  it('every import points down the table of ARCHITECTURE.md', () => {
    assert.deepEqual(layerViolations(files), []);
  });

  it('no value imports run in a cycle', () => {
    assert.deepEqual(importCycles(files), []);
  });

  it('walks the real graph (the checks above would pass on an empty one)', () => {
    const edges = importGraph(files).map((i) => `${i.from} -> ${i.to}${i.typeOnly ? ' (type)' : ''}`);
    for (const expected of [
      'workflows/process-message.ts -> activities/message-activities.ts (type)',
      'src/worker/create-worker.ts -> activities/message-activities.ts',
      'src/cli/commands/publish.ts -> src/client/publish.ts',
      'src/connectors/source.ts -> src/client/publish.ts',
      'src/ops/start.ts -> src/worker/create-worker.ts',
      'workflows/lazy-schemas.ts -> src/contract/operator-input.ts',
    ])
      assert.ok(edges.includes(expected), `${expected} should be an edge`);
    assert.ok(files.size > 80, `only ${files.size} files found`);
  });

  it('reports a bad import, a type-only import beyond its allowance, a file outside the layers and a cycle', () => {
    const probe = new Map(files);
    probe.set('src/contract/probe-a.ts', "import { createWorker } from '../worker/create-worker';\n");
    probe.set('src/client/probe-b.ts', "import type { Handler } from '../worker/handlers';\n");
    probe.set('workflows/probe-c.ts', "export const lazy = () => require('../src/config');\n");
    probe.set('src/elsewhere/probe-d.ts', "import { publish } from '../client/publish';\n");
    probe.set('src/connectors/probe-g.ts', "import { defineHandler } from '../worker/handlers';\n");
    const aboutProbes = (lines: string[]) => lines.filter((line) => line.includes('/probe-'));
    assert.deepEqual(aboutProbes(layerViolations(probe)), [
      'src/elsewhere/probe-d.ts is in no layer: give its folder a row in ARCHITECTURE.md and a rule',
      'src/contract/probe-a.ts -> src/worker/create-worker.ts (contract may not import worker)',
      'src/client/probe-b.ts -> src/worker/handlers.ts (client may not import even the types of worker)',
      'workflows/probe-c.ts -> src/config.ts (workflows may not import config)',
      'src/connectors/probe-g.ts -> src/worker/handlers.ts (connectors may not import worker)',
    ]);
    const cyclic = new Map(files);
    cyclic.set('src/contract/probe-e.ts', "import './probe-f';\n");
    cyclic.set('src/contract/probe-f.ts', "export * from './probe-e';\n");
    assert.deepEqual(aboutProbes(importCycles(cyclic)), [
      'src/contract/probe-e.ts -> src/contract/probe-f.ts -> src/contract/probe-e.ts',
    ]);
  });
});
