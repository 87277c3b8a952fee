/**
 * Validation problems as `path: message` lines, for zod's issues and hand-made ones alike. zod-free, so
 * workflow code can import it on the hot path (see `workflows/lazy-schemas.ts`). Workflow-safe.
 */

/** One validation problem: zod's issue, or anything shaped like it. */
export interface IssueLike {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Turns validation issues into `path: message` lines, one per bad field. */
export function formatIssues(issues: readonly IssueLike[]): string[] {
  return issues.map(
    (issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`,
  );
}
