/**
 * The message envelope: one zod schema shared by producers, activities and the CLI. Workflow-safe, but
 * workflow code must not import it at top level (it loads zod): use `./json` there.
 */
import { z } from 'zod';
import { jsonProblem } from './plain-json';
import { MESSAGE_ID_PATTERN, TOPIC_PATTERN } from './id-patterns';

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
