/** Human explanations of a dead letter, shown as the workflow's current details in the Web UI. Pure. */
import type { DeadLetter } from '../src/shared/types';

const HOW_TO_FIX: Record<DeadLetter['errorClass'], string> = {
  validation:
    "The payload does not satisfy the topic's schema. Correct the fields named below with a merge patch and retry.",
  permanent:
    'The message can never succeed as it is (e.g. unknown entity or conflict). Fix the payload or the downstream data and retry, or discard it with a reason.',
  security:
    'Credentials or permissions were refused. Fix the credentials or grants (not the payload), then retry. Security failures are never re-driven automatically.',
  temporary:
    'A dependency kept failing until the retry budget was spent. Check its health; retry once it is back.',
  timeout:
    "The work took too long or was aborted. Check the dependency's latency or the stage timeout, then retry.",
};

/** Markdown for the Web UI: what failed, why, and how to fix it. */
export function explainDeadLetter(dl: DeadLetter): string {
  const noHandler = dl.reason === 'NO_HANDLER';
  const fix = noHandler
    ? `No worker has a handler for topic \`${dl.topic}\`. Deploy one with \`defineHandler({ topic: '${dl.topic}', ... })\`, then retry.`
    : HOW_TO_FIX[dl.errorClass];
  const issues = Array.isArray((dl.details as { issues?: unknown } | undefined)?.issues)
    ? ((dl.details as { issues: Array<{ path?: unknown[]; message?: string }> }).issues ?? [])
        .slice(0, 10)
        .map((i) => `- \`${(i.path ?? []).join('.') || '(root)'}\`: ${i.message ?? ''}`)
    : [];
  const lines = [
    `## Parked: ${dl.errorClass} failure (${dl.reason}${dl.causeReason ? ` after ${dl.causeReason}` : ''})`,
    `**Topic** \`${dl.topic}\` · **message** \`${dl.messageId}\` · **stage** \`${dl.stage}\` · **attempts** ${dl.attempts} · **payload v${dl.payloadVersion}**`,
    '',
    `**Error:** ${dl.message}`,
    ...(issues.length ? ['', '**Invalid fields:**', ...issues] : []),
    '',
    `**How to fix:** ${fix}`,
    dl.nextRedriveAt ? `\nAn automatic re-drive is due at ${dl.nextRedriveAt}.` : '',
    `Expires (status \`expired\`) at ${dl.expiresAt} unless retried or discarded.`,
    '',
    '**Actions:** send the `repair` update or the `retry` signal with `{"patch": {...}}` (RFC 7386 merge patch), `{"payload": ...}` or `{}`; or the `discard` signal with `{"reason": "..."}`.',
    `CLI: \`dlq show ${dl.messageId} --topic ${dl.topic}\` · \`dlq retry ${dl.workflowId} --patch fix.json\``,
    `Fingerprint (failure group): \`${dl.fingerprint}\``,
  ];
  // Markdown: paragraphs need blank lines between them; list items keep single newlines.
  return lines
    .filter((l) => l !== '')
    .map((l, i, all) => (i > 0 && !(l.startsWith('- ') && all[i - 1]!.startsWith('- ')) ? `\n${l}` : l))
    .join('\n');
}
