/**
 * Temporal Cloud billable actions, counted from a workflow history and from a server's `action` metric.
 * Pure functions, used by `scripts/action-costs.ts` and unit-tested in test/unit-billable-actions.test.ts.
 *
 * The definition is Temporal's published one, https://docs.temporal.io/evaluate/cloud/actions (read on
 * 2026-11-29): each category lists its History Event Type. What it counts, per history event:
 *
 * | Event                                              | Actions                                              |
 * | -------------------------------------------------- | ---------------------------------------------------- |
 * | WorkflowExecutionStarted                           | 1 (client start, continue-as-new, child start)       |
 * | UpsertWorkflowSearchAttributes                     | 1; 0 when it sets only `TemporalChangeVersion`       |
 * | WorkflowExecutionOptionsUpdated                    | 1                                                    |
 * | StartChildWorkflowExecutionInitiated               | 2                                                    |
 * | ActivityTaskScheduled                              | 1                                                    |
 * | ActivityTaskStarted                                | `attempt - 1` (the retries; only the last is written)|
 * | MarkerRecorded                                     | 1 per workflow task that recorded any (batched)      |
 * | WorkflowTaskCompleted                              | `meteringMetadata.nonfirstLocalActivityExecutionAttempts` |
 * | TimerStarted                                       | 1 (`condition` with a timeout included)              |
 * | WorkflowExecutionSignaled                          | 1                                                    |
 * | WorkflowExecutionUpdateAccepted                    | 1 (a rejected update is never written: see below)    |
 * | NexusOperationScheduled, …CancelRequested          | 1                                                    |
 *
 * Not in any history, so counted from the server's `action` metric instead: activity heartbeats that reach
 * the server, queries (except `__temporal_workflow_metadata`), rejected updates. Every other event type the
 * page does not name is counted 0 and reported by name (`free`), and `WorkflowPropertiesModified` (a memo
 * upsert) is among them: the page does not list it, while the self-hosted server's metric counts it
 * (`command_ModifyWorkflowProperties`); `unlisted` reports it apart so the difference stays visible.
 */
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Actions of one history, by the page's usage name, plus what was not billed. */
export interface HistoryActions {
  total: number;
  /** Billable actions by usage name (`Start Workflow`, `Start Timer`, …). */
  byAction: Record<string, number>;
  /** Events counted 0, by event type: the page names no action for them. */
  free: Record<string, number>;
  /** Of `free`, the events a reader may expect to cost something: the memo upsert. */
  unlisted: Record<string, number>;
  events: number;
}

/** `EVENT_TYPE_MARKER_RECORDED` → `MarkerRecorded`; numbers (from the SDK) and strings (JSON) alike. */
export function eventTypeName(event: HistoryEvent): string {
  const raw: unknown = event.eventType;
  const name =
    typeof raw === 'number'
      ? (temporal.api.enums.v1.EventType[raw] ?? `EVENT_TYPE_${raw}`)
      : typeof raw === 'string'
        ? raw
        : 'EVENT_TYPE_UNSPECIFIED';
  return name
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, __: string, c: string) => c.toUpperCase());
}

const ONE_EACH: Record<string, string> = {
  WorkflowExecutionStarted: 'Start Workflow',
  UpsertWorkflowSearchAttributes: 'Upsert Workflow Search Attributes',
  WorkflowExecutionOptionsUpdated: 'Update Workflow Options',
  ActivityTaskScheduled: 'Schedule Activity',
  TimerStarted: 'Start Timer',
  WorkflowExecutionSignaled: 'Signal Workflow',
  WorkflowExecutionUpdateAccepted: 'Accept Workflow Update',
  NexusOperationScheduled: 'Schedule Nexus Operation',
  NexusOperationCancelRequested: 'Request Nexus Operation Cancellation',
};

/** The search attribute the SDK upserts for `patched()`; the page exempts it from action counting. */
export const CHANGE_VERSION = 'TemporalChangeVersion';

/** An upsert that sets `TemporalChangeVersion` and nothing else. */
function onlyChangeVersion(event: HistoryEvent): boolean {
  const fields = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {};
  const keys = Object.keys(fields);
  return keys.length > 0 && keys.every((k) => k === CHANGE_VERSION);
}

/** Events that are free by the page but that a reader may expect to cost something. */
const UNLISTED = new Set(['WorkflowPropertiesModified']);

/** Counts the billable actions of one history (one run; a continued run has its own). */
export function historyActions(events: readonly HistoryEvent[]): HistoryActions {
  const byAction: Record<string, number> = {};
  const free: Record<string, number> = {};
  const unlisted: Record<string, number> = {};
  const add = (action: string, n: number) => {
    if (n > 0) byAction[action] = (byAction[action] ?? 0) + n;
  };
  const markerTasks = new Set<string>();
  for (const event of events) {
    const type = eventTypeName(event);
    if (type === 'UpsertWorkflowSearchAttributes' && onlyChangeVersion(event)) {
      // The SDK's own upsert of `patched()`: exempt by the page.
      const key = `${type} (${CHANGE_VERSION} only)`;
      free[key] = (free[key] ?? 0) + 1;
      continue;
    }
    const action = ONE_EACH[type];
    if (action) {
      add(action, 1);
      continue;
    }
    switch (type) {
      case 'StartChildWorkflowExecutionInitiated':
        add('Start Child Workflow', 2);
        break;
      case 'ActivityTaskStarted':
        add('Retry Activity', Math.max(0, (event.activityTaskStartedEventAttributes?.attempt ?? 1) - 1));
        break;
      case 'MarkerRecorded':
        // Every marker of one workflow task is one action (local activities, patches, side effects).
        markerTasks.add(String(event.markerRecordedEventAttributes?.workflowTaskCompletedEventId ?? ''));
        break;
      case 'WorkflowTaskCompleted':
        add(
          'Retry Local Activity',
          Number(
            event.workflowTaskCompletedEventAttributes?.meteringMetadata
              ?.nonfirstLocalActivityExecutionAttempts ?? 0,
          ),
        );
        free[type] = (free[type] ?? 0) + 1;
        break;
      default:
        free[type] = (free[type] ?? 0) + 1;
        if (UNLISTED.has(type)) unlisted[type] = (unlisted[type] ?? 0) + 1;
    }
  }
  add('Record Activity Markers', markerTasks.size);
  const total = Object.values(byAction).reduce((a, b) => a + b, 0);
  return { total, byAction, free, unlisted, events: events.length };
}

/**
 * The `action` counter of a Temporal server's Prometheus endpoint, summed by `action_type` for one
 * namespace (frontend only). Lines look like
 * `action{action_type="grpc_SignalWorkflowExecution",namespace="default",…,service_name="frontend"} 3`.
 */
export function parseActionMetric(text: string, namespace: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^action\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    if (labels.namespace !== namespace || (labels.service_name && labels.service_name !== 'frontend'))
      continue;
    const type = labels.action_type ?? 'unknown';
    out[type] = (out[type] ?? 0) + Number(m[2]);
  }
  return out;
}

/** `after - before`, by action type, without zeros. */
export function metricDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, value] of Object.entries(after)) {
    const d = value - (before[type] ?? 0);
    if (d !== 0) out[type] = d;
  }
  return out;
}

/**
 * The metric's action types that are billed by the page's definition, but never appear in a history:
 * heartbeats, queries and rejected updates. (The metric also emits one `command_RecordMarker` per marker
 * beside one `command_BatchMarkers` per workflow task; the page bills the batch.)
 */
export const NOT_IN_HISTORY = [
  'grpc_RecordActivityTaskHeartbeat',
  'grpc_RecordActivityTaskHeartbeatById',
  'grpc_QueryWorkflow',
  // The server's action type is `message_UpdateWorkflowExecution:Rejection`; Prometheus writes `_` for `:`.
  'message_UpdateWorkflowExecution_Rejection',
  'message_UpdateWorkflowExecution:Rejection',
] as const;

/** Actions the metric counted that the page bills and no history shows. */
export function notInHistory(delta: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const type of NOT_IN_HISTORY) if (delta[type]) out[type] = delta[type];
  return out;
}

/**
 * The metric's total: every action type, markers counted once per workflow task (`command_BatchMarkers`;
 * the per-marker `command_RecordMarker` beside it is left out).
 */
export function metricTotal(delta: Record<string, number>): number {
  return Object.entries(delta)
    .filter(([type]) => type !== 'command_RecordMarker')
    .reduce((a, [, v]) => a + v, 0);
}

/**
 * What the metric should total for a path whose history counted `history` and whose window the metric
 * covered: the billed actions, plus what the server's metric counts and the page does not bill (the memo
 * upsert, the SDK's `TemporalChangeVersion` upsert), less what the metric does not count (local activity
 * retries). Equal to `metricTotal` when both ways of counting agree.
 */
export function expectedMetricTotal(history: HistoryActions, notInHistoryTotal: number): number {
  const changeVersion = Object.entries(history.free)
    .filter(([k]) => k.includes(CHANGE_VERSION))
    .reduce((a, [, v]) => a + v, 0);
  return (
    history.total +
    notInHistoryTotal +
    (history.unlisted.WorkflowPropertiesModified ?? 0) +
    changeVersion -
    (history.byAction['Retry Local Activity'] ?? 0)
  );
}
