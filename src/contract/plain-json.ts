/**
 * The check that a payload is plain JSON, without zod. Workflow-safe, and imported by workflow code on the
 * hot path: the reusable V8 context evaluates every imported module again for each workflow, so this
 * module must stay free of zod (see `workflows/lazy-schemas.ts`).
 */

/** Deepest nesting a payload may have. */
export const MAX_PAYLOAD_DEPTH = 64;

/** Checks that a value is plain JSON (no undefined, functions, NaN, cycles or class instances) without recursion. */
export function jsonProblem(value: unknown, maxDepth = MAX_PAYLOAD_DEPTH): string | undefined {
  const stack: Array<{ v: unknown; depth: number; path: string }> = [{ v: value, depth: 0, path: '$' }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (depth > maxDepth) return `${path} is nested deeper than ${maxDepth} levels`;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${path} is ${String(v)}, which JSON cannot hold`;
      continue;
    }
    if (typeof v !== 'object') return `${path} is a ${typeof v}, which JSON cannot hold`;
    if (seen.has(v)) return `${path} is a circular reference`;
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, path: `${path}[${i}]` }));
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null)
      return `${path} is a class instance; only plain JSON is allowed`;
    for (const [k, item] of Object.entries(v))
      stack.push({ v: item, depth: depth + 1, path: `${path}.${k}` });
  }
  return undefined;
}
