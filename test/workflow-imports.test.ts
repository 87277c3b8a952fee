/**
 * Keeps zod out of the per-workflow cost: with the reusable V8 context every module that `workflows/index.ts`
 * reaches through value imports is evaluated again for each workflow, so those modules must not load zod.
 * zod is reached only through the lazy `require` in `workflows/lazy-schemas.ts`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..');

/** Module specifiers of the value (not type-only) static imports and re-exports of one file. */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const specs: string[] = [];
  for (const node of source.statements) {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) specs.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
      specs.push((node.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return specs;
}

function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  return [`${base}.ts`, join(base, 'index.ts')].find((candidate) => existsSync(candidate));
}

/** Every package and local file reached from `entry` through value imports, with the chain that reached it. */
function eagerGraph(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const spec of valueImports(file)) {
      const local = resolveLocal(file, spec);
      const key = local ?? spec;
      if (reached.has(key)) continue;
      reached.set(key, [...reached.get(file)!, key]);
      if (local) queue.push(local);
    }
  }
  return reached;
}

const show = (chain: string[]) => chain.map((p) => (p.startsWith('/') ? relative(root, p) : p)).join(' -> ');

describe('workflow bundle import graph', () => {
  const graph = eagerGraph(join(root, 'workflows', 'index.ts'));

  it('reaches no zod through value imports', () => {
    const zodChains = [...graph.entries()].filter(([key]) => key === 'zod' || key.startsWith('zod/'));
    assert.deepEqual(
      zodChains.map(([, chain]) => show(chain)),
      [],
      'workflow code must load zod-based schemas through workflows/lazy-schemas.ts',
    );
  });

  it('walks the real graph (the check above would pass on an empty graph)', () => {
    const files = [...graph.keys()].map((k) => (k.startsWith('/') ? relative(root, k) : k));
    for (const expected of [
      'workflows/process-message.ts',
      'workflows/analytics.ts',
      'workflows/lazy-schemas.ts',
      'src/contract/plain-json.ts',
      'src/contract/validation-issues.ts',
      '@temporalio/workflow',
    ])
      assert.ok(files.includes(expected), `${expected} should be reached; reached: ${files.join(', ')}`);
    // The detector itself: the modules that the lazy loader requires do import zod.
    assert.ok(eagerGraph(join(root, 'src', 'contract', 'operator-input.ts')).has('zod'));
    assert.ok(eagerGraph(join(root, 'src', 'contract', 'analytics-config.ts')).has('zod'));
  });
});
