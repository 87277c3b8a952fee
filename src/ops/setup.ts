/**
 * Idempotent set-up of any Temporal server (dev server, self-hosted, Cloud given the rights):
 * registers the custom search attributes and raises the namespace's retention.
 */
import type { Connection } from '@temporalio/client';
import type { Logger as PinoLogger } from 'pino';
import { temporal } from '@temporalio/proto';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';
import { ALL_SEARCH_ATTRIBUTES } from '../contract/search-attributes';
import { durationOption, parseDuration } from '../contract/duration';

const { IndexedValueType } = temporal.api.enums.v1;

const INDEXED_TYPE: Partial<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  [SearchAttributeType.KEYWORD]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DATETIME]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.TEXT]: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.BOOL]: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DOUBLE]: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};

/** How the namespace's custom search attributes differ from what temporal-dlq needs. */
interface AttributeComparison {
  /** Missing ones, with the indexed type each needs. */
  missing: Record<string, temporal.api.enums.v1.IndexedValueType>;
  /** Registered with another type. */
  wrongType: Array<{ name: string; have: string; wanted: string }>;
}

function compareAttributes(
  custom: Record<string, temporal.api.enums.v1.IndexedValueType>,
): AttributeComparison {
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  const wrongType: AttributeComparison['wrongType'] = [];
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    const wanted = INDEXED_TYPE[key.type]!;
    const have = custom[key.name];
    if (have === undefined) missing[key.name] = wanted;
    else if (have !== wanted)
      wrongType.push({ name: key.name, have: IndexedValueType[have], wanted: IndexedValueType[wanted] });
  }
  return { missing, wrongType };
}

/** Registers every custom search attribute. Existing ones are left alone (and reported if their type differs). */
export async function registerSearchAttributes(
  connection: Connection,
  namespace: string,
  logger?: PinoLogger,
): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const { missing, wrongType } = compareAttributes(existing.customAttributes ?? {});
  const wrong = wrongType[0];
  if (wrong)
    throw new Error(
      `Search attribute ${wrong.name} exists in namespace ${namespace} with type ${wrong.have}, but temporal-dlq needs ${wrong.wanted}`,
    );
  if (Object.keys(missing).length === 0) return;
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  logger?.info({ added: Object.keys(missing), namespace }, 'Registered search attributes');
}

/**
 * The namespace is not set up for temporal-dlq: search attributes are missing or have another type.
 * Thrown by `createWorker` (option `checkSetup`) before it starts polling.
 */
export class SetupError extends Error {
  override readonly name = 'SetupError';
  constructor(
    message: string,
    /** The namespace that was checked. */
    readonly namespace: string,
    /** Names of the search attributes that are not registered. */
    readonly missing: readonly string[],
    /** Attributes registered with another type, one sentence each. */
    readonly wrongType: readonly string[],
  ) {
    super(message);
  }
}

/** Temporal CLI names of the indexed types, for the command in the error message. */
const CLI_TYPE: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DOUBLE]: 'Double',
};

/**
 * The `temporal operator search-attribute create` command registering `keys`, with one `--type` after each
 * `--name`: the CLI (1.5.1) pairs them by position, and given several names with one `--type` it registers
 * only the first, without an error.
 */
function cliCommands(namespace: string, keys: ReadonlyArray<(typeof ALL_SEARCH_ATTRIBUTES)[number]>): string {
  const pairs = keys.map((k) => `--name ${k.name} --type ${CLI_TYPE[k.type]!}`).join(' ');
  return `\`temporal operator search-attribute create --namespace ${namespace} ${pairs}\``;
}

/**
 * Checks that every `Dlq*` search attribute is registered in `namespace` with its type, and throws a
 * `SetupError` that names what is missing and how to register it. Without them every workflow task that
 * parks a message fails (`BadSearchAttributes`), forever, and nothing parks. Read-only; works with a
 * client `Connection` or a worker's `NativeConnection`.
 */
export async function checkSetup(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const { missing, wrongType } = compareAttributes(existing.customAttributes ?? {});
  const missingNames = Object.keys(missing);
  const wrongTypes = wrongType.map((w) => `${w.name} has type ${w.have}, temporal-dlq needs ${w.wanted}`);
  if (missingNames.length === 0 && wrongTypes.length === 0) return;
  const lines = [`Namespace "${namespace}" is not set up for temporal-dlq.`];
  if (missingNames.length > 0) {
    const named = ALL_SEARCH_ATTRIBUTES.filter((k) => missingNames.includes(k.name));
    lines.push(
      `These search attributes are not registered: ${named.map((k) => `${k.name} (${CLI_TYPE[k.type]})`).join(', ')}.`,
      'Without them every message that fails would fail its workflow task (BadSearchAttributes) again and again, and never park.',
      `Register them once (idempotent, safe at every start): \`await setupServer(connection, { namespace: '${namespace}', retention: '30d' })\` from temporal-dlq, with a @temporalio/client Connection; \`npm start\` and \`npm run worker\` run it for you.`,
      `Or with the Temporal CLI: ${cliCommands(namespace, named)}.`,
    );
  }
  if (wrongTypes.length > 0)
    lines.push(
      `Registered with the wrong type (set-up cannot change a type; remove them or use another namespace): ${wrongTypes.join('; ')}.`,
    );
  lines.push('(createWorker option `checkSetup: false` skips this check.)');
  throw new SetupError(lines.join('\n'), namespace, missingNames, wrongTypes);
}

/** Options of `setupServer`. */
export interface SetupServerOptions {
  namespace: string;
  /**
   * Retention of closed workflows, raised to this and never lowered (duplicates are caught within it): a
   * duration such as `'30d'`. @defaultValue `'30d'`
   */
  retention?: string;
  /** @deprecated Give `retention` as a duration (`'30d'`); milliseconds still work, with a warning. */
  retentionMs?: number;
  logger?: PinoLogger;
}

/** The default retention of `setupServer` (and of `DLQ_RETENTION`). */
const DEFAULT_RETENTION = '30d';

/** Milliseconds of a retention given as a duration or, deprecated, in milliseconds. Throws a TypeError for a bad one. */
function retentionMs(text: unknown, legacyMs: unknown): number {
  const { ms, problem } = durationOption('retention', text, legacyMs, 'DLQ_DEP_RETENTION_MS');
  if (problem) throw new TypeError(problem);
  return ms ?? parseDuration(DEFAULT_RETENTION)!;
}

/**
 * Raises (never lowers) the namespace's retention of closed workflows to `retention`, a duration such as
 * `'30d'` (a number of milliseconds is deprecated and still works, with a warning).
 */
export async function ensureRetention(
  connection: Connection,
  namespace: string,
  retention: string | number,
  logger?: PinoLogger,
): Promise<void> {
  const wantedMs =
    typeof retention === 'number' ? retentionMs(undefined, retention) : retentionMs(retention, undefined);
  await raiseRetention(connection, namespace, wantedMs, logger);
}

async function raiseRetention(
  connection: Connection,
  namespace: string,
  wantedMs: number,
  logger: PinoLogger | undefined,
): Promise<void> {
  const described = await connection.workflowService.describeNamespace({ namespace });
  const ttl = described.config?.workflowExecutionRetentionTtl;
  const currentMs = ttl ? tsToMs(ttl) : 0;
  if (currentMs >= wantedMs) return;
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msToTs(wantedMs) },
  });
  logger?.info({ namespace, retentionDays: wantedMs / 86_400_000 }, 'Raised namespace retention');
}

/** Runs the whole set-up: the search attributes, then the retention. Safe to call at every start. */
export async function setupServer(connection: Connection, options: SetupServerOptions): Promise<void> {
  const wantedMs = retentionMs(options.retention, options.retentionMs);
  await registerSearchAttributes(connection, options.namespace, options.logger);
  await raiseRetention(connection, options.namespace, wantedMs, options.logger);
}
