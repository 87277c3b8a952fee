/**
 * Reads the park memo (`src/contract/park-memo.ts`) from a listing or a description. The memo comes from the
 * server, written by whichever version of the workflow parked the message: it is checked, and one that does
 * not parse counts as absent (the reader then asks the workflow, as for a message parked before memos).
 */
import { z } from 'zod';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { ERROR_CLASSES } from '../contract/errors';
import { PARK_MEMO_KEY } from '../contract/park-memo';
import type { ParkMemo } from '../contract/park-memo';

const parkMemoSchema = z.object({
  v: z.literal(1),
  deadLetter: z
    .object({
      workflowId: z.string(),
      messageId: z.string(),
      topic: z.string(),
      payloadVersion: z.number().int(),
      errorClass: z.enum(ERROR_CLASSES),
      errorType: z.string(),
      reason: z.string(),
      message: z.string(),
      attempts: z.number().int(),
      firstFailureAt: z.string(),
      lastFailureAt: z.string(),
      parkedAt: z.string(),
      stage: z.string(),
      fingerprint: z.string(),
      parkCount: z.number().int(),
      expiresAt: z.string(),
    })
    .loose(),
  omitted: z.array(z.string()),
});

/** The park memo of a workflow, or undefined when it has none (never parked, or parked before memos). */
export function readParkMemo(info: Pick<WorkflowExecutionInfo, 'memo'>): ParkMemo | undefined {
  const raw = info.memo?.[PARK_MEMO_KEY];
  if (raw === undefined) return undefined;
  const parsed = parkMemoSchema.safeParse(raw);
  return parsed.success ? (parsed.data as ParkMemo) : undefined;
}

/** True when the memo holds the whole dead letter but its stack (and maybe the tail of a long message). */
export function memoHasPayload(memo: ParkMemo): boolean {
  return !memo.omitted.includes('payload');
}
