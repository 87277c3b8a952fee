/**
 * The park memo: what `dlq list` and `dlq export` need of a parked message, written into the workflow's memo
 * when it parks, so that they read it from the visibility listing instead of sending a `state` query per
 * message (a billed action on Temporal Cloud, and a replay of the whole history for a workflow evicted
 * from the worker cache). Workflow-safe.
 *
 * The memo holds the dead letter without its stack, bounded by `MAX_PARK_MEMO_BYTES`: a long message is
 * cut, then the details, headers and payload are left out, in that order, until it fits. `omitted` names
 * what was left out, so a reader knows when it must ask the workflow. Written by policies of revision 4 and
 * later (`src/contract/topic-policy.ts`).
 */
import { MAX_PARK_MEMO_BYTES, MAX_PARK_MEMO_MESSAGE } from './limits';
import { jsonByteLength } from './size';
import type { DeadLetter } from './types';

/** Memo key of the park memo. */
export const PARK_MEMO_KEY = 'dlqDeadLetter';

/** Fields of the dead letter the memo may leave out, in the order they are dropped. */
export const OMITTABLE = ['details', 'headers', 'payload'] as const;
export type OmittedField = (typeof OMITTABLE)[number] | 'stack' | 'message-tail';

/** The memo value: version 1. */
export interface ParkMemo {
  v: 1;
  /** The dead letter, less `omitted`. */
  deadLetter: Partial<DeadLetter> & Omit<DeadLetter, 'payload' | 'headers' | 'details' | 'stack'>;
  /** What the memo left out of the dead letter (`stack` always; `message-tail` when the message was cut). */
  omitted: OmittedField[];
}

/** Builds the park memo of a dead letter, within `MAX_PARK_MEMO_BYTES`. */
export function parkMemo(dl: DeadLetter): ParkMemo {
  const { stack: _stack, ...rest } = dl;
  const omitted: OmittedField[] = ['stack'];
  const deadLetter: Record<string, unknown> = { ...rest };
  if (dl.message.length > MAX_PARK_MEMO_MESSAGE) {
    deadLetter.message = `${dl.message.slice(0, MAX_PARK_MEMO_MESSAGE - 1)}…`;
    omitted.push('message-tail');
  }
  const memo = { v: 1 as const, deadLetter, omitted };
  for (const field of OMITTABLE) {
    if (jsonByteLength(memo) <= MAX_PARK_MEMO_BYTES) break;
    if (!(field in deadLetter)) continue;
    delete deadLetter[field];
    omitted.push(field);
  }
  return memo as ParkMemo;
}
