/**
 * Every name that crosses the wire, defined once. Workflow-safe: no I/O, no Node built-ins.
 */

/** Default task queue for message workflows and the analytics workflow. */
export const DEFAULT_TASK_QUEUE = 'dlq-messages';

/** Workflow type of the per-message workflow. */
export const PROCESS_MESSAGE_WORKFLOW = 'processMessage';

/** Workflow type of the scheduled analytics workflow. */
export const ANALYTICS_WORKFLOW = 'dlqAnalytics';

/** Schedule id of the analytics schedule. */
export const ANALYTICS_SCHEDULE_ID = 'dlq-analytics';

/** Prefix of every message workflow id: `msg:<topic>:<messageId>`. */
export const MESSAGE_WORKFLOW_PREFIX = 'msg';

/** Workflow id of a message: `msg:<topic>:<messageId>`. */
export function messageWorkflowId(topic: string, messageId: string): string {
  return `${MESSAGE_WORKFLOW_PREFIX}:${topic}:${messageId}`;
}

/** Splits `msg:<topic>:<messageId>` back into its parts, or returns undefined. */
export function parseMessageWorkflowId(workflowId: string): { topic: string; messageId: string } | undefined {
  const parts = workflowId.split(':');
  if (parts.length < 3 || parts[0] !== MESSAGE_WORKFLOW_PREFIX) return undefined;
  const topic = parts[1] ?? '';
  const messageId = parts.slice(2).join(':');
  if (!topic || !messageId) return undefined;
  return { topic, messageId };
}
