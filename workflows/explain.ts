/** Human explanations of a dead letter, shown as the workflow's current details in the Web UI. Pure. */
import type { DeadLetter } from '../src/contract/types';

const HOW_TO_FIX: Record<DeadLetter['errorClass'], string> = {
  validation:
    "The payload does not satisfy the topic's schema. Correct the invalid fields listed above with a merge patch and retry.",
  permanent:
    'The message can never succeed as it is (e.g. unknown entity or conflict). Fix the payload or the downstream data and retry, or discard it with a reason.',
  security:
    'Credentials or permissions were refused. Fix the credentials or grants (not the payload), then retry. Security failures are never re-driven automatically.',
  temporary:
    'A dependency kept failing until the retry budget was spent. Check its health; retry once it is back.',
  timeout:
    "The work took too long or was aborted. Check the dependency's latency or the stage timeout, then retry.",
};

/**
 * The invalid fields named by a dead letter's details: zod issues, kept as an array (a schema failure in a
 * stage) or under `issues` (a repair's verdict). At most 10.
 */
export function invalidFields(details: unknown): Array<{ path: string; message: string }> {
  const list: unknown = Array.isArray(details)
    ? details
    : (details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(list)) return [];
  return list
    .filter((i): i is { path?: unknown; message?: unknown } => typeof i === 'object' && i !== null)
    .slice(0, 10)
    .map((i) => ({
      path: (Array.isArray(i.path) ? i.path.map(String).join('.') : '') || '(root)',
      message: typeof i.message === 'string' ? i.message : '',
    }));
}

/** Markdown for the Web UI: what failed, why, and how to fix it. */
export function explainDeadLetter(dl: DeadLetter): string {
  const fix =
    dl.reason === 'NO_HANDLER'
      ? `The worker that took it has no handler for topic \`${dl.topic}\`. Every worker of a task queue must register the same topics (or give topics their own task queues): deploy one with \`defineHandler({ topic: '${dl.topic}', ... })\`, then retry.`
      : dl.reason === 'WORKER_CRASHED'
        ? 'Its stage killed or stalled the worker running it (a native crash, out of memory, process.exit, or a blocked event loop), attempt after attempt, the last time running alone in its worker. It is never re-driven automatically. Find the cause in the worker logs around the parking time, fix the handler or the payload, then retry, or discard it.'
        : HOW_TO_FIX[dl.errorClass];
  const issues = invalidFields(dl.details).map((i) => `- \`${i.path}\`: ${i.message}`);
  // The Web UI shows this in a panel of fixed height that cuts off the end: the failure group (what
  // `--group` needs to act on every message like this one) comes right after the heading, on its own line.
  const lines = [
    `## Parked: ${dl.errorClass} failure (${dl.reason}${dl.causeReason ? ` after ${dl.causeReason}` : ''})`,
    `**Failure group:** \`${dl.fingerprint}\` (\`dlq list --group ${dl.fingerprint}\`)`,
    `**Topic** \`${dl.topic}\` · **message** \`${dl.messageId}\` · **stage** \`${dl.stage}\` · **attempts** ${dl.attempts} · **payload v${dl.payloadVersion}**`,
    '',
    `**Error:** ${dl.message}`,
    ...(issues.length ? ['', '**Invalid fields:**', ...issues] : []),
    '',
    `**How to fix:** ${fix}`,
    '',
    '**Actions:** send the `repair` update or the `retry` signal with `{"patch": {...}}` (RFC 7386 merge patch), `{"payload": ...}` or `{}`; or the `discard` signal with `{"reason": "..."}`.',
    `CLI: \`dlq show ${dl.messageId} --topic ${dl.topic}\` · \`dlq retry ${dl.workflowId} --patch fix.json\``,
    dl.nextRedriveAt ? `An automatic re-drive is due at ${dl.nextRedriveAt}.` : '',
    `Expires (status \`expired\`) at ${dl.expiresAt} unless retried or discarded.`,
  ];
  // Markdown: paragraphs need blank lines between them; list items keep single newlines.
  return lines
    .filter((l) => l !== '')
    .map((l, i, all) => (i > 0 && !(l.startsWith('- ') && all[i - 1]!.startsWith('- ')) ? `\n${l}` : l))
    .join('\n');
}
