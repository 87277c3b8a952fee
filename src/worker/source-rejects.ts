/**
 * The built-in handler of the reserved topic `dlq.source-rejected` (src/contract/source-rejects.ts): every
 * message there is a broker message a source could not turn into an envelope, and it parks at once as
 * `validation` with the reason the source named. A retry parks it again; the fix is to publish the corrected
 * message on its own topic (`dlq publish`) and discard this one.
 */
import { ValidationError } from '../contract/errors';
import { SOURCE_REJECT_REASONS, SOURCE_REJECTS_TOPIC } from '../contract/source-rejects';
import type { SourceRejectPayload } from '../contract/source-rejects';
import { defineHandler } from './handlers';

const KNOWN_REASONS: ReadonlySet<string> = new Set(Object.values(SOURCE_REJECT_REASONS));

/** Parks every rejected broker message as `validation` with its source's reason. */
export const sourceRejectsHandler = defineHandler<SourceRejectPayload>({
  topic: SOURCE_REJECTS_TOPIC,
  // It only throws: a short timeout keeps it out of createWorker's shutdown grace (the longest stage timeout).
  timeout: '2s',
  handle: ({ payload }) => {
    const reason =
      typeof payload?.reason === 'string' && KNOWN_REASONS.has(payload.reason)
        ? payload.reason
        : 'VALIDATION_ERROR';
    const problems = Array.isArray(payload?.problems) ? payload.problems.join('; ') : 'unknown';
    const origin = typeof payload?.origin === 'string' ? payload.origin : 'an unknown source';
    throw new ValidationError(`Broker message from ${origin} could not become an envelope: ${problems}`, {
      reason,
    });
  },
});
