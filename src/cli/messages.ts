/**
 * Reading message workflows for the CLI: resolve an id, list by visibility query, and load the
 * state (running: the `state` query; closed: the result). Server errors are classified by type and
 * gRPC code, never by message text.
 */
import { isGrpcServiceError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { stateQuery } from '../contract/definitions';
import {
  messageWorkflowId,
  MESSAGE_WORKFLOW_PREFIX,
  parseMessageWorkflowId,
  PROCESS_MESSAGE_WORKFLOW,
} from '../contract/names';
import { messageIdSchema, topicSchema } from '../contract/envelope';
import {
  DlqAttempts,
  DlqErrorClass,
  DlqFingerprint,
  DlqMessageId,
  DlqParkCount,
  DlqParkedAt,
  DlqReason,
  DlqStatus,
  DlqTopic,
} from '../contract/search-attributes';
import type { AuditEntry, DeadLetter, MessageOutcome, MessageState } from '../contract/types';
import { UserError } from './context';
import { readParkMemo } from './park-memo';
import type { ParkMemo } from '../contract/park-memo';

/** gRPC status codes we tell apart (see grpc/status.proto). */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;

/** True when `err` or one of its causes is a gRPC error with this code. */
export function hasGrpcCode(err: unknown, code: number): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (isGrpcServiceError(e) && Number(e.code) === code) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** True when the error means the workflow does not exist or has closed. */
export function isNotFound(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || hasGrpcCode(err, GRPC_NOT_FOUND);
}

/** One row of a listing, from search attributes only (no call to the workflow). */
export interface MessageRow {
  workflowId: string;
  runId: string;
  executionStatus: string;
  /** Task queue of the workflow: where a worker must poll for the workflow to answer. */
  taskQueue: string;
  topic?: string;
  messageId?: string;
  status?: string;
  errorClass?: string;
  reason?: string;
  fingerprint?: string;
  attempts?: number;
  parkCount?: number;
  parkedAt?: string;
  /** The last parking's error message and type, from the park memo (no query to the workflow). */
  error?: string;
  errorType?: string;
  /**
   * The park memo itself: absent for a message never parked or parked before memos. Not enumerable, so JSON
   * output and row copies leave it out.
   */
  parkMemo?: ParkMemo;
}

export function rowFromInfo(
  info: Pick<
    WorkflowExecutionInfo,
    'workflowId' | 'runId' | 'status' | 'taskQueue' | 'typedSearchAttributes' | 'memo'
  >,
): MessageRow {
  const sa = info.typedSearchAttributes;
  const parsed = parseMessageWorkflowId(info.workflowId);
  const parkedAt = sa.get(DlqParkedAt);
  const row: MessageRow = {
    workflowId: info.workflowId,
    runId: info.runId,
    executionStatus: info.status.name,
    taskQueue: info.taskQueue,
  };
  const topic = sa.get(DlqTopic) ?? parsed?.topic;
  if (topic !== undefined) row.topic = topic;
  if (parsed) row.messageId = parsed.messageId;
  const set = <K extends keyof MessageRow>(key: K, value: MessageRow[K] | undefined) => {
    if (value !== undefined) row[key] = value;
  };
  set('status', sa.get(DlqStatus));
  set('errorClass', sa.get(DlqErrorClass));
  set('reason', sa.get(DlqReason));
  set('fingerprint', sa.get(DlqFingerprint));
  set('attempts', sa.get(DlqAttempts));
  set('parkCount', sa.get(DlqParkCount));
  set('parkedAt', parkedAt?.toISOString());
  const memo = readParkMemo(info);
  if (memo) {
    row.error = memo.deadLetter.message;
    row.errorType = memo.deadLetter.errorType;
    Object.defineProperty(row, 'parkMemo', { value: memo, enumerable: false });
  }
  return row;
}

/** Maps a server rejection of a visibility query to a user error. */
function rethrowQueryError(err: unknown, query: string): never {
  if (hasGrpcCode(err, GRPC_INVALID_ARGUMENT)) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new UserError(`the server rejected the visibility query ${JSON.stringify(query)}: ${detail}`);
  }
  throw err;
}

/** Counts the workflows matching a visibility query (eventually consistent). */
export async function countMessages(client: Client, query: string): Promise<number> {
  try {
    return (await client.workflow.count(query)).count;
  } catch (err) {
    rethrowQueryError(err, query);
  }
}

/** Streams matching message rows, one page at a time, deduplicated by workflow id (continue-as-new runs). */
export async function* listMessages(
  client: Client,
  query: string,
  limit = Infinity,
): AsyncGenerator<MessageRow> {
  const seen = new Set<string>();
  try {
    for await (const info of client.workflow.list({ query, pageSize: 200 })) {
      if (seen.has(info.workflowId)) continue;
      seen.add(info.workflowId);
      yield rowFromInfo(info);
      if (seen.size >= limit) return;
    }
  } catch (err) {
    rethrowQueryError(err, query);
  }
}

/**
 * Turns what the user typed into a workflow id: `msg:<topic>:<id>` as is; a bare message id with
 * `--topic`; otherwise one visibility lookup by the `DlqMessageId` search attribute.
 */
export async function resolveWorkflowId(client: Client, idArg: string, topic?: string): Promise<string> {
  if (topic !== undefined) {
    if (!topicSchema.safeParse(topic).success)
      throw new UserError(`--topic ${JSON.stringify(topic)}: not a valid topic`);
    if (!messageIdSchema.safeParse(idArg).success)
      throw new UserError(
        `${JSON.stringify(idArg)}: not a valid message id (1-200 characters of A-Z a-z 0-9 . _ : -)`,
      );
    return messageWorkflowId(topic, idArg);
  }
  if (idArg.startsWith(`${MESSAGE_WORKFLOW_PREFIX}:`) && parseMessageWorkflowId(idArg)) return idArg;
  if (!messageIdSchema.safeParse(idArg).success)
    throw new UserError(`${JSON.stringify(idArg)}: not a valid message or workflow id`);
  const matches = new Set<string>();
  // One indexed lookup (DlqMessageId), never a scan of every message workflow.
  for await (const row of listMessages(
    client,
    `WorkflowType = "${PROCESS_MESSAGE_WORKFLOW}" AND ${DlqMessageId.name} = "${idArg}"`,
    6,
  ))
    if (row.messageId === idArg) matches.add(row.workflowId);
  if (matches.size === 0)
    throw new UserError(
      `no message with id ${JSON.stringify(idArg)} was found by its ${DlqMessageId.name} search attribute; give its workflow id (msg:<topic>:<id>) or --topic (a message published before temporal-dlq set ${DlqMessageId.name}, and never parked since, is found only that way)`,
    );
  if (matches.size > 1)
    throw new UserError(
      `message id ${JSON.stringify(idArg)} exists in several topics (${[...matches].join(', ')}); add --topic`,
    );
  return [...matches][0]!;
}

/** Everything the CLI knows about one message. */
export interface MessageView {
  workflowId: string;
  runId: string;
  executionStatus: string;
  /** Lifecycle status: from the `state` query or the result, else the DlqStatus attribute. */
  status: string;
  topic?: string;
  messageId?: string;
  /** The payload shown, and the version it is (see `payloadKind`). */
  payload?: unknown;
  payloadVersion?: number;
  /**
   * Which payload `payload` is: `current` (a running message's state), `last-run` (a closed message's
   * outcome: the payload of its last processing cycle), or `last-parking` (an outcome recorded before
   * outcomes carried `payload`: the dead letter's, with the dead letter's version).
   */
  payloadKind?: 'current' | ShownPayload['kind'];
  deadLetter?: DeadLetter;
  audit: AuditEntry[];
  /**
   * Where the state came from. `memo` and `attributes` mean the workflow could not be asked (no worker
   * answered): `memo` shows the dead letter of its last parking from the park memo, `attributes` only the
   * search attributes.
   */
  source: 'query' | 'result' | 'memo' | 'attributes';
  row: MessageRow;
}

const QUERY_DEADLINE_MS = 10_000;

/** The payload a closed message shows, with the version it really is. */
export interface ShownPayload {
  payload: unknown;
  payloadVersion: number;
  kind: 'last-run' | 'last-parking';
}

/**
 * The payload to show for a closed message: the outcome's `payload` (the one its last cycle ran) with the
 * outcome's version; for an outcome recorded before that field existed, the dead letter's payload with the
 * dead letter's own version (what was parked, not what a repair made of it); else nothing.
 */
export function shownPayload(outcome: MessageOutcome): ShownPayload | undefined {
  if (outcome.payload !== undefined)
    return { payload: outcome.payload, payloadVersion: outcome.payloadVersion, kind: 'last-run' };
  if (outcome.deadLetter)
    return {
      payload: outcome.deadLetter.payload,
      payloadVersion: outcome.deadLetter.payloadVersion,
      kind: 'last-parking',
    };
  return undefined;
}

/** Loads one message. Unknown ids are a `UserError`. */
export async function loadMessage(client: Client, workflowId: string): Promise<MessageView> {
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (isNotFound(err)) throw new UserError(`no message workflow ${JSON.stringify(workflowId)} exists`);
    throw err;
  }
  if (description.type !== PROCESS_MESSAGE_WORKFLOW)
    throw new UserError(`${workflowId} is a ${description.type} workflow, not a message`);
  const row = rowFromInfo(description);
  const base = {
    workflowId,
    runId: description.runId,
    executionStatus: description.status.name,
    ...(row.topic !== undefined ? { topic: row.topic } : {}),
    ...(row.messageId !== undefined ? { messageId: row.messageId } : {}),
    row,
  };
  const fromAttributes = (): MessageView => {
    const memo = row.parkMemo;
    if (!memo) return { ...base, status: row.status ?? 'unknown', audit: [], source: 'attributes' };
    const deadLetter = memo.deadLetter as DeadLetter;
    return {
      ...base,
      status: row.status ?? 'unknown',
      deadLetter,
      ...(deadLetter.payload !== undefined
        ? {
            payload: deadLetter.payload,
            payloadVersion: deadLetter.payloadVersion,
            payloadKind: 'last-parking',
          }
        : {}),
      audit: [],
      source: 'memo',
    };
  };
  if (description.status.name === 'RUNNING') {
    try {
      const state: MessageState = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
        handle.query(stateQuery),
      );
      return {
        ...base,
        status: state.status,
        payload: state.envelope.payload,
        payloadVersion: state.payloadVersion,
        payloadKind: 'current',
        ...(state.deadLetter ? { deadLetter: state.deadLetter } : {}),
        audit: state.audit,
        source: 'query',
      };
    } catch {
      // No worker answered the query in time: show what visibility knows.
      return fromAttributes();
    }
  }
  if (description.status.name === 'COMPLETED') {
    const outcome = (await handle.result()) as MessageOutcome;
    const shown = shownPayload(outcome);
    return {
      ...base,
      status: outcome.status,
      ...(outcome.deadLetter ? { deadLetter: outcome.deadLetter } : {}),
      ...(shown
        ? { payload: shown.payload, payloadVersion: shown.payloadVersion, payloadKind: shown.kind }
        : { payloadVersion: outcome.payloadVersion }),
      audit: outcome.audit,
      source: 'result',
    };
  }
  return fromAttributes();
}
