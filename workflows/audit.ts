/** Keeps the audit trail bounded. Pure and workflow-safe. */
import type { AuditEntry, MessageState } from '../src/shared/types';

/**
 * The audit trail is carried through continue-as-new, whose input must stay far below the 2 MB payload
 * limit. Beyond this many entries the oldest rejected or ignored actions are dropped (and counted);
 * parkings, retries, re-drives and resolutions are always kept.
 */
export const MAX_AUDIT_ENTRIES = 1000;
const DROPPABLE: ReadonlySet<AuditEntry['action']> = new Set([
  'ignored',
  'retry-rejected',
  'discard-rejected',
  'continued-as-new',
]);

export function trimAudit(state: MessageState): void {
  while (state.audit.length > MAX_AUDIT_ENTRIES) {
    const index = state.audit.findIndex((entry) => DROPPABLE.has(entry.action));
    if (index < 0) return;
    state.audit.splice(index, 1);
    state.auditDropped = (state.auditDropped ?? 0) + 1;
  }
}
