/**
 * The message envelope: one zod schema shared by producers, workflows and the CLI. Workflow-safe.
 */
import { z } from 'zod';

/** Allowed characters of a message id (also used by topics, minus `:`). */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;
/** Topics end up inside workflow ids (`msg:<topic>:<id>`), so they cannot contain `:`. */
export const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
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

/** Any JSON value, checked iteratively so deep payloads fail cleanly instead of overflowing the stack. */
export const jsonValueSchema = z.unknown().superRefine((value, ctx) => {
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: 'is required (any JSON value, null included)' });
    return;
  }
  const problem = jsonProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `must be plain JSON: ${problem}` });
});

export const messageIdSchema = z
  .string({ error: 'must be a string' })
  .regex(MESSAGE_ID_PATTERN, { error: 'must be 1-200 characters of A-Z a-z 0-9 . _ : -' });

export const topicSchema = z
  .string({ error: 'must be a string' })
  .regex(TOPIC_PATTERN, { error: 'must be 1-100 characters of A-Z a-z 0-9 . _ -' });

const optionalText = (max: number) => z.string().min(1).max(max).optional();

/** What a producer sends. `headers` and `producedAt` are filled in when absent. */
export const publishInputSchema = z.strictObject({
  id: messageIdSchema,
  topic: topicSchema,
  payload: jsonValueSchema,
  headers: z.record(z.string().max(200), z.string().max(4000)).optional(),
  correlationId: optionalText(200),
  traceId: optionalText(200),
  source: optionalText(200),
  producedAt: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
});
export type PublishInput = z.input<typeof publishInputSchema>;

/** The envelope as stored in the workflow: every field present. */
export const envelopeSchema = publishInputSchema.extend({
  headers: z.record(z.string(), z.string()),
  producedAt: z.string(),
});
export type Envelope = Omit<z.output<typeof envelopeSchema>, 'payload'> & { payload: unknown };

/** Turns zod issues into `path: message` lines, one per bad field. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
}
