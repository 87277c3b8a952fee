/**
 * The Temporal Cloud action count of scripts/billable-actions.ts, on committed histories whose events are
 * listed in each case, and on a sample of the server's Prometheus `action` metric. The histories are those of
 * a frozen release folder (test/histories/v3/): the top-level ones are recorded again with each workflow
 * change, and how many workflow tasks carry local-activity markers depends on timing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporal } from '@temporalio/proto';
import {
  eventTypeName,
  expectedMetricTotal,
  historyActions,
  metricDelta,
  metricTotal,
  notInHistory,
  parseActionMetric,
} from '../scripts/billable-actions';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const history = (name: string): HistoryEvent[] =>
  (JSON.parse(readFileSync(join(__dirname, 'histories', 'v3', name), 'utf8')) as { events: HistoryEvent[] })
    .events;

describe('billable actions of a history', () => {
  it('a message that succeeds at once: its start and one batch of local-activity markers', () => {
    // Started, WFT scheduled/started/completed (4), two local-activity markers of WFT 4, completed.
    const actions = historyActions(history('succeeded.json'));
    assert.deepEqual(actions.byAction, { 'Start Workflow': 1, 'Record Activity Markers': 1 });
    assert.equal(actions.total, 2);
    assert.equal(actions.events, 7);
  });

  it('a repaired message: start, park upsert, wait timer, accepted update, schema check, resolution', () => {
    // Markers in WFTs 4 and 18; upserts 7, 21, 24; timer 8 (cancelled 20: free); update accepted 12;
    // activity 13 (attempt 1: no retry).
    const actions = historyActions(history('recovered-after-patch.json'));
    assert.deepEqual(actions.byAction, {
      'Start Workflow': 1,
      'Record Activity Markers': 2,
      'Upsert Workflow Search Attributes': 3,
      'Start Timer': 1,
      'Accept Workflow Update': 1,
      'Schedule Activity': 1,
    });
    assert.equal(actions.total, 9);
    assert.equal(actions.free.TimerCanceled, 1);
    assert.equal(actions.free.WorkflowExecutionUpdateCompleted, 1);
  });

  it('a discarded message: each signal and each timer started, also the one restarted after a rejected signal', () => {
    const actions = historyActions(history('discarded.json'));
    assert.deepEqual(actions.byAction, {
      'Start Workflow': 1,
      'Record Activity Markers': 1,
      'Upsert Workflow Search Attributes': 2,
      'Start Timer': 2,
      'Signal Workflow': 2,
    });
    assert.equal(actions.total, 8);
  });

  it('activity retries from ActivityTaskStarted, local retries from the metering metadata, patch upserts free', () => {
    const events: HistoryEvent[] = [
      { eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED },
      {
        eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        workflowTaskCompletedEventAttributes: {
          meteringMetadata: { nonfirstLocalActivityExecutionAttempts: 2 },
        },
      },
      { eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED },
      {
        eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activityTaskStartedEventAttributes: { attempt: 5 },
      },
      {
        eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
      },
      { eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED },
      {
        eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: { indexedFields: { TemporalChangeVersion: { data: new Uint8Array() } } },
        },
      },
      {
        eventType: temporal.api.enums.v1.EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: { indexedFields: { DlqStatus: { data: new Uint8Array() } } },
        },
      },
    ];
    const actions = historyActions(events);
    assert.deepEqual(actions.byAction, {
      'Start Workflow': 1,
      'Retry Local Activity': 2,
      'Schedule Activity': 1,
      'Retry Activity': 4,
      'Start Child Workflow': 2,
      'Upsert Workflow Search Attributes': 1,
    });
    assert.equal(actions.total, 11);
    assert.deepEqual(actions.unlisted, { WorkflowPropertiesModified: 1 });
    assert.equal(actions.free['UpsertWorkflowSearchAttributes (TemporalChangeVersion only)'], 1);
    // The server's metric counts the memo and the TemporalChangeVersion upsert, not the local retries.
    assert.equal(expectedMetricTotal(actions, 3), 11 + 3 + 1 + 1 - 2);
    assert.equal(eventTypeName(events[5]!), 'WorkflowPropertiesModified');
  });
});

describe("the server's action metric", () => {
  const sample = (n: number) =>
    [
      '# TYPE action counter',
      `action{action_type="grpc_StartWorkflowExecution",namespace="default",operation="StartWorkflowExecution",service_name="frontend"} ${n}`,
      `action{action_type="command_RecordMarker",namespace="default",operation="RespondWorkflowTaskCompleted",service_name="frontend"} ${2 * n}`,
      `action{action_type="command_BatchMarkers",namespace="default",operation="RespondWorkflowTaskCompleted",service_name="frontend"} ${n}`,
      `action{action_type="command_ModifyWorkflowProperties",namespace="default",operation="RespondWorkflowTaskCompleted",service_name="frontend"} ${n}`,
      `action{action_type="grpc_QueryWorkflow",namespace="default",operation="QueryWorkflow",service_name="frontend"} ${3 * n}`,
      `action{action_type="grpc_StartWorkflowExecution",namespace="temporal_system",operation="StartWorkflowExecution",service_name="frontend"} 7`,
    ].join('\n');

  it('is read by action type for one namespace, with markers counted once per workflow task', () => {
    const delta = metricDelta(
      parseActionMetric(sample(1), 'default'),
      parseActionMetric(sample(3), 'default'),
    );
    assert.deepEqual(delta, {
      grpc_StartWorkflowExecution: 2,
      command_RecordMarker: 4,
      command_BatchMarkers: 2,
      command_ModifyWorkflowProperties: 2,
      grpc_QueryWorkflow: 6,
    });
    assert.equal(metricTotal(delta), 12);
    assert.deepEqual(notInHistory(delta), { grpc_QueryWorkflow: 6 });
  });
});
