/** `dlq show`: one message's dead letter, current payload, audit trail and Web UI link. */
import type { Command } from 'commander';
import type { CliContext } from '../context';
import { loadMessage, resolveWorkflowId } from '../messages';
import type { MessageView } from '../messages';
import { paint, table } from '../output';
import { uiBase, uiWorkflowUrl } from '../../web-ui-links';

/** Heading of the payload section, by which payload it is (see `MessageView.payloadKind`). */
const PAYLOAD_HEADING: Record<NonNullable<MessageView['payloadKind']>, string> = {
  current: 'Current payload',
  'last-run': 'Payload of the last run',
  'last-parking': 'Payload at last parking',
};

interface ShowFlags {
  topic?: string;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('show')
    .description('Show a message: its dead letter, current payload, audit trail and Web UI link')
    .argument(
      '<id>',
      'workflow id (msg:<topic>:<id>), or a message id (with --topic, or found by its DlqMessageId search attribute)',
    )
    .option('--topic <topic>', 'topic of a bare message id')
    .option('--json', 'machine output')
    .action(async (id: string, flags: ShowFlags) => {
      const client = await ctx.client();
      const workflowId = await resolveWorkflowId(client, id, flags.topic);
      const view = await loadMessage(client, workflowId);
      const cfg = ctx.config();
      const link = uiWorkflowUrl(uiBase(cfg), cfg.TEMPORAL_NAMESPACE, workflowId);
      if (flags.json) {
        const { row: _row, ...rest } = view;
        ctx.json({ ...rest, uiUrl: link });
        return;
      }
      const dl = view.deadLetter;
      ctx.print(
        `${paint(ctx, 'bold', workflowId)}  ${paint(ctx, view.status === 'dead' ? 'red' : 'green', view.status)}`,
      );
      if (view.source === 'attributes' || view.source === 'memo')
        ctx.print(
          paint(
            ctx,
            'yellow',
            view.source === 'memo'
              ? 'The workflow did not answer the state query (is a worker running?); showing the dead letter kept in its memo when it parked (no stack, no audit trail).'
              : 'The workflow did not answer the state query (is a worker running?); showing search attributes only.',
          ),
        );
      if (dl) {
        ctx.print('');
        ctx.print(paint(ctx, 'bold', 'Dead letter'));
        const fields: Array<[string, string | number | undefined]> = [
          ['topic', dl.topic],
          ['message id', dl.messageId],
          ['class', dl.errorClass],
          ['reason', dl.causeReason ? `${dl.reason} (after ${dl.causeReason})` : dl.reason],
          ['error type', dl.errorType],
          ['error', dl.message],
          ['stage', dl.stage],
          ['attempts', dl.attempts],
          ['park count', dl.parkCount],
          ['first failure', dl.firstFailureAt],
          ['last failure', dl.lastFailureAt],
          ['parked at', dl.parkedAt],
          ['fingerprint', dl.fingerprint],
          ['correlation id', dl.correlationId],
          ['trace id', dl.traceId],
          ['source', dl.source],
          ['worker', dl.workerIdentity],
          ['next re-drive', dl.nextRedriveAt],
          ['expires at', dl.expiresAt],
        ];
        for (const [k, v] of fields)
          if (v !== undefined && v !== '') ctx.print(`  ${k.padEnd(15)} ${String(v)}`);
        if (dl.details !== undefined) ctx.print(`  ${'details'.padEnd(15)} ${JSON.stringify(dl.details)}`);
      } else if (view.source === 'attributes') {
        const r = view.row;
        for (const [k, v] of Object.entries(r))
          if (v !== undefined) ctx.print(`  ${k.padEnd(15)} ${String(v)}`);
      }
      if (view.payload !== undefined) {
        ctx.print('');
        ctx.print(
          paint(
            ctx,
            'bold',
            `${PAYLOAD_HEADING[view.payloadKind ?? 'current']} (v${view.payloadVersion ?? '?'})`,
          ),
        );
        ctx.print(JSON.stringify(view.payload, null, 2));
      }
      if (view.audit.length) {
        ctx.print('');
        ctx.print(paint(ctx, 'bold', 'Audit trail'));
        ctx.print(
          table(
            ctx,
            ['at', 'action', 'via', 'operator', 'reason / problems', 'version'],
            view.audit.map((a) => [
              a.at,
              a.action,
              a.via,
              a.operator ?? '',
              [a.reason, ...(a.problems ?? [])].filter(Boolean).join('; ').slice(0, 120),
              a.payloadVersionBefore === a.payloadVersionAfter
                ? `v${a.payloadVersionAfter}`
                : `v${a.payloadVersionBefore}→v${a.payloadVersionAfter}`,
            ]),
          ),
        );
      }
      ctx.print('');
      ctx.print(`Web UI: ${link}`);
    });
}
