/** Signal, query and update definitions: the operator's interface to a message workflow. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DiscardInput, MessageState, RepairAccepted, RetryInput } from './types';

/** Retry a parked message, optionally with a repaired payload (`payload`) or a merge patch (`patch`). */
export const retrySignal = defineSignal<[RetryInput]>('retry');
/** Discard a parked message with a reason; the dead letter and audit trail become the result. */
export const discardSignal = defineSignal<[DiscardInput]>('discard');
/** Like `retry`, but validated: an invalid repair is rejected with its reasons and nothing changes. */
export const repairUpdate = defineUpdate<RepairAccepted, [RetryInput]>('repair');
/** Status, current payload, dead letter and the full audit trail. */
export const stateQuery = defineQuery<MessageState>('state');
