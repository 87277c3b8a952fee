/**
 * zod schemas of what operators send: the `retry` signal, the `repair` update and the `discard` signal.
 * Used by the CLI before sending and by the workflow when it receives them. Workflow-safe; workflow code
 * loads it lazily through `workflows/lazy-schemas.ts` so that zod is not evaluated for every message.
 */
import { z } from 'zod';

/** Input of the `retry` signal and the `repair` update. */
export const retryInputSchema = z
  .strictObject({
    payload: z.unknown().optional(),
    patch: z
      .record(z.string(), z.unknown(), { error: 'must be a JSON object (an RFC 7386 merge patch)' })
      .optional(),
    reason: z.string().max(1000).optional(),
    operator: z.string().max(200).optional(),
    /**
     * ISO time after which the workflow refuses this request (the `repair` validator compares it with the
     * workflow's clock). A client that gives up waiting sets it so that a request delivered late, when a
     * worker finally polls, changes nothing.
     */
    notAfter: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
    /** `repair` only: check the repair as the real run would (schema included) and change nothing. */
    dryRun: z.boolean().optional(),
  })
  .refine((v) => !(v.patch !== undefined && v.payload !== undefined), {
    error: 'give either `patch` or `payload`, not both',
  });

/** Input of the `discard` signal. */
export const discardInputSchema = z.strictObject({
  reason: z
    .string({ error: 'is required: say why the message is discarded' })
    .trim()
    .min(1, 'must not be empty')
    .max(1000),
  operator: z.string().max(200).optional(),
});
