/** A small line diff of two JSON values, for `--dry-run` previews. Pure. */

const MAX_LINES = 400;

/** Unified-style lines (`  ` same, `- ` removed, `+ ` added) of pretty-printed `before` → `after`. */
export function jsonDiff(before: unknown, after: unknown): string[] {
  const a = (JSON.stringify(before, null, 2) ?? 'undefined').split('\n').slice(0, MAX_LINES);
  const b = (JSON.stringify(after, null, 2) ?? 'undefined').split('\n').slice(0, MAX_LINES);
  // Longest common subsequence table, from the end.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out;
}
