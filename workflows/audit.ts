/** Keeps the audit trail bounded. Pure and workflow-safe. */
import { MAX_AUDIT_BYTES } from '../src/contract/limits';
import { jsonByteLength } from '../src/contract/size';
import type { AuditEntry, MessageState } from '../src/contract/types';

/**
 * The audit trail is carried through continue-as-new, whose input must stay far below the 2 MB payload
 * limit. Beyond this many entries, or `MAX_AUDIT_BYTES` of JSON, the oldest rejected or ignored actions are
 * dropped first (and counted); parkings, retries, re-drives and resolutions go only when nothing else is
 * left to drop (a repair-cycle limit in the hundreds), oldest first, so the bound always holds.
 */
export const MAX_AUDIT_ENTRIES = 1000;
const DROPPABLE: ReadonlySet<AuditEntry['action']> = new Set([
  'ignored',
  'retry-rejected',
  'discard-rejected',
  'continued-as-new',
]);

function dropOldestDroppable(state: MessageState): boolean {
  const index = state.audit.findIndex((entry) => DROPPABLE.has(entry.action));
  if (index < 0) return false;
  state.audit.splice(index, 1);
  state.auditDropped = (state.auditDropped ?? 0) + 1;
  return true;
}

function dropOldest(state: MessageState): void {
  state.audit.splice(0, 1);
  state.auditDropped = (state.auditDropped ?? 0) + 1;
}

export function trimAudit(state: MessageState): void {
  while (state.audit.length > MAX_AUDIT_ENTRIES) if (!dropOldestDroppable(state)) dropOldest(state);
  while (state.audit.length > 1 && jsonByteLength(state.audit) > MAX_AUDIT_BYTES)
    if (!dropOldestDroppable(state)) dropOldest(state);
}
