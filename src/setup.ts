/**
 * Idempotent set-up of any Temporal server (dev server, self-hosted, Cloud given the rights):
 * registers the custom search attributes and raises the namespace's retention.
 */
import type { Connection } from '@temporalio/client';
import type { Logger as PinoLogger } from 'pino';
import { temporal } from '@temporalio/proto';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';
import { ALL_SEARCH_ATTRIBUTES } from './shared/search-attributes';

const { IndexedValueType } = temporal.api.enums.v1;

const INDEXED_TYPE: Partial<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DATETIME]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.BOOL]: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DOUBLE]: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};

/** Registers every custom search attribute. Existing ones are left alone (and reported if their type differs). */
export async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
  logger?: PinoLogger,
): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const custom = existing.customAttributes ?? {};
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    const wanted = INDEXED_TYPE[key.type]!;
    const have = custom[key.name];
    if (have === undefined) missing[key.name] = wanted;
    else if (have !== wanted) {
      throw new Error(
        `Search attribute ${key.name} exists in namespace ${namespace} with type ${IndexedValueType[have]}, but temporal-dlq needs ${IndexedValueType[wanted]}`,
      );
    }
  }
  if (Object.keys(missing).length === 0) return;
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  logger?.info({ added: Object.keys(missing), namespace }, 'Registered search attributes');
}

/** Raises (never lowers) the namespace's retention of closed workflows to `retentionMs`. */
export async function ensureRetention(
  connection: Connection,
  namespace: string,
  retentionMs: number,
  logger?: PinoLogger,
): Promise<void> {
  const described = await connection.workflowService.describeNamespace({ namespace });
  const ttl = described.config?.workflowExecutionRetentionTtl;
  const currentMs = ttl ? tsToMs(ttl) : 0;
  if (currentMs >= retentionMs) return;
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msToTs(retentionMs) },
  });
  logger?.info({ namespace, retentionDays: retentionMs / 86_400_000 }, 'Raised namespace retention');
}

/** Runs the whole set-up. Safe to call at every start. */
export async function setupServer(
  connection: Connection,
  options: { namespace: string; retentionMs: number; logger?: PinoLogger },
): Promise<void> {
  await registerSearchAttributes(connection, options.namespace, options.logger);
  await ensureRetention(connection, options.namespace, options.retentionMs, options.logger);
}
