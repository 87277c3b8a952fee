/**
 * Visibility queries from CLI filter flags. Every flag value is validated before it reaches the server,
 * and every query is scoped to message workflows (`WorkflowType = "processMessage"`).
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { ERROR_CLASSES } from '../contract/errors';
import { DLQ_STATUS_VALUES } from '../contract/types';
import type { DlqStatusValue } from '../contract/types';
import { statusQuery, wholeSecondLiteral } from '../contract/queries';
import { TOPIC_PATTERN } from '../contract/id-patterns';
import { DURATION_HINT, parseDuration } from '../contract/duration';
import { PROCESS_MESSAGE_WORKFLOW } from '../contract/names';
import {
  DlqErrorClass,
  DlqFingerprint,
  DlqParkedAt,
  DlqReason,
  DlqTopic,
} from '../contract/search-attributes';
import { UserError } from './context';

/** The filter flags shared by `list`, `export`, bulk `retry` and bulk `discard`. */
export interface FilterFlags {
  status?: string;
  class?: string;
  reason?: string;
  topic?: string;
  group?: string;
  olderThan?: string;
  query?: string;
}

/** Keyword values we put between quotes ourselves: no quotes, no backslashes, no control characters. */
const KEYWORD_PATTERN = /^[A-Za-z0-9._:/@+-]{1,200}$/;
/** Fingerprints are 16 hex characters. */
const FINGERPRINT_PATTERN = /^[0-9a-f]{16}$/;
const MAX_RAW_QUERY = 4000;

/**
 * Adds the filter flags to a command. Commands whose `--reason` is the operator's reason (retry, discard)
 * take the reason-code filter as `--reason-code`.
 */
export function addFilterOptions(
  command: Command,
  { withStatus, reasonFlag = '--reason' }: { withStatus: boolean; reasonFlag?: '--reason' | '--reason-code' },
): Command {
  if (withStatus) {
    command.addOption(
      new Option('--status <status>', 'DlqStatus to match, or `any`').choices([...DLQ_STATUS_VALUES, 'any']),
    );
  }
  return command
    .addOption(new Option('--class <class>', 'error class').choices([...ERROR_CLASSES]))
    .option(`${reasonFlag} <code>`, 'reason code, e.g. VALIDATION_ERROR, HTTP_401, RETRY_EXHAUSTED')
    .option('--topic <topic>', 'topic of the messages')
    .option('--group <fingerprint>', 'failure group: the DlqFingerprint shown by `dlq list` and `dlq show`')
    .option('--older-than <duration>', `parked longer ago than this (${DURATION_HINT})`)
    .option('--query <visibility-query>', 'raw Temporal visibility query, ANDed with the other filters');
}

const quote = (value: string) => `"${value}"`;

function checkKeyword(flag: string, value: string, pattern: RegExp, hint: string): string {
  if (!pattern.test(value)) throw new UserError(`${flag} ${JSON.stringify(value)}: must be ${hint}`);
  return value;
}

/** Checks a raw visibility query for what we can see locally; the server checks the rest. */
export function checkRawQuery(raw: string): string {
  const query = raw.trim();
  if (!query) throw new UserError('--query: must not be empty');
  if (query.length > MAX_RAW_QUERY) throw new UserError(`--query: longer than ${MAX_RAW_QUERY} characters`);
  let depth = 0;
  let quoteChar: string | undefined;
  for (const ch of query) {
    if (quoteChar) {
      if (ch === quoteChar) quoteChar = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quoteChar = ch;
    else if (ch === '(') depth += 1;
    else if (ch === ')') depth -= 1;
    if (depth < 0) throw new UserError(`--query: unbalanced ")" in ${JSON.stringify(query)}`);
  }
  if (quoteChar) throw new UserError(`--query: unterminated ${quoteChar} quote in ${JSON.stringify(query)}`);
  if (depth !== 0) throw new UserError(`--query: unbalanced "(" in ${JSON.stringify(query)}`);
  if (/\b(order\s+by|limit|group\s+by)\b/i.test(query))
    throw new UserError('--query: ORDER BY, GROUP BY and LIMIT are not allowed in a filter');
  return query;
}

/**
 * Builds the visibility query. `forceStatus` overrides `--status` (bulk operations select only `dead`
 * messages, which is what makes them resumable); `defaultStatus` applies when `--status` is absent.
 * The status comes from `statusQuery`: `dead` and `retrying` also require `ExecutionStatus = "Running"`.
 */
export function buildQuery(
  flags: FilterFlags,
  {
    defaultStatus,
    forceStatus,
    now = new Date(),
  }: { defaultStatus?: string; forceStatus?: string; now?: Date },
): string {
  const parts = [`WorkflowType = ${quote(PROCESS_MESSAGE_WORKFLOW)}`];
  const status = forceStatus ?? flags.status ?? defaultStatus;
  if (status !== undefined && status !== 'any') {
    if (!(DLQ_STATUS_VALUES as readonly string[]).includes(status))
      throw new UserError(
        `--status ${JSON.stringify(status)}: must be one of ${DLQ_STATUS_VALUES.join(', ')}, any`,
      );
    // `dead` and `retrying` select running workflows only: a terminated one keeps its last status.
    parts.push(statusQuery(status as DlqStatusValue));
  }
  if (flags.class !== undefined) {
    if (!(ERROR_CLASSES as readonly string[]).includes(flags.class))
      throw new UserError(
        `--class ${JSON.stringify(flags.class)}: must be one of ${ERROR_CLASSES.join(', ')}`,
      );
    parts.push(`${DlqErrorClass.name} = ${quote(flags.class)}`);
  }
  if (flags.reason !== undefined)
    parts.push(
      `${DlqReason.name} = ${quote(checkKeyword('--reason', flags.reason, KEYWORD_PATTERN, 'a reason code such as HTTP_404'))}`,
    );
  if (flags.topic !== undefined)
    parts.push(
      `${DlqTopic.name} = ${quote(checkKeyword('--topic', flags.topic, TOPIC_PATTERN, '1-100 characters of A-Z a-z 0-9 . _ -'))}`,
    );
  if (flags.group !== undefined)
    parts.push(
      `${DlqFingerprint.name} = ${quote(checkKeyword('--group', flags.group, FINGERPRINT_PATTERN, 'a 16-hex-character fingerprint'))}`,
    );
  if (flags.olderThan !== undefined) {
    const ms = parseDuration(flags.olderThan);
    if (ms === undefined || ms <= 0)
      throw new UserError(`--older-than ${JSON.stringify(flags.olderThan)}: must be ${DURATION_HINT}`);
    parts.push(`${DlqParkedAt.name} < ${quote(wholeSecondLiteral(now.getTime() - ms, 'ceil'))}`);
  }
  if (flags.query !== undefined) parts.push(`(${checkRawQuery(flags.query)})`);
  return parts.join(' AND ');
}

/** True when at least one filter narrows the selection (bulk operations refuse to act on everything). */
export function hasSelector(flags: FilterFlags): boolean {
  return [flags.class, flags.reason, flags.topic, flags.group, flags.olderThan, flags.query].some(
    (v) => v !== undefined,
  );
}
