/**
 * Park latency: messages that fail non-retryably, from publish until (1) the `state` query says `dead`
 * (asked once the history shows the park, so the observer does not compete with the workflow's own tasks),
 * (2) the history records the `DlqStatus` upsert (the engine's own time, no polling), and (3) visibility lists
 * them under `PARKED_QUERY` (one background list poller).
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { publish } from '../../src/client/publish';
import { stateQuery } from '../../src/contract/definitions';
import { messageWorkflowId } from '../../src/contract/names';
import { DlqTopic } from '../../src/contract/search-attributes';
import { PARKED_QUERY } from '../../src/contract/queries';
import { TOPIC_PARK } from '../handlers';
import { isResourceExhausted } from '../context';
import type { BenchContext } from '../context';
import { mapLimit, percentile, sleep } from '../stats';

/** Interval of the history poll that precedes the `state` query, per message. */
const HISTORY_POLL_MS = 10;

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface ParkLatency {
  n: number;
  concurrency: number;
  toDeadByQueryMs: Percentiles;
  toDeadInHistoryMs: Percentiles;
  toVisibilityMs: Percentiles;
  historyPollMs: number;
  listPollMs: number;
  /** List polls the server's visibility rate limit refused (a stock server: 10 calls/s per namespace). */
  rateLimitedPolls: number;
  sampleIds: string[];
}

const pcts = (values: number[]): Percentiles => ({
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  p99: percentile(values, 99),
});

export async function runParkLatency(ctx: BenchContext, taskQueue: string): Promise<ParkLatency> {
  const { client } = ctx;
  const n = ctx.options.park;
  const concurrency = ctx.options.parkConcurrency;
  const listPollMs = ctx.options.listPollMs;
  const published = new Map<string, number>();
  const listed = new Map<string, number>();
  let polling = true;
  let rateLimitedPolls = 0;
  const poller = (async () => {
    const query = `TaskQueue = '${taskQueue}' AND ${DlqTopic.name} = '${TOPIC_PARK}' AND ${PARKED_QUERY}`;
    while (polling) {
      const at = Date.now();
      try {
        for await (const info of client.workflow.list({ query, pageSize: 1000 })) {
          if (!listed.has(info.workflowId)) listed.set(info.workflowId, at);
        }
      } catch (err) {
        // A stock server's visibility rate limit: this round is lost, the next one sees the message.
        if (!isResourceExhausted(err)) throw err;
        rateLimitedPolls += 1;
      }
      await sleep(listPollMs);
    }
  })();

  const toDead = await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    async (i) => {
      const id = `${ctx.runId}-park-${i}`;
      const workflowId = messageWorkflowId(TOPIC_PARK, id);
      const t0 = Date.now();
      published.set(workflowId, t0);
      await publish(client, { id, topic: TOPIC_PARK, payload: { i } }, { taskQueue });
      const handle = client.workflow.getHandle(workflowId);
      const deadline = t0 + 60_000;
      while (Date.now() < deadline) {
        // Watch the history (served by the server alone), then confirm with the `state` query. Polling the
        // query itself every few ms would queue query tasks on the same workflow and slow what we measure.
        const events = (await handle.fetchHistory()).events ?? [];
        if (events.some((e) => e.upsertWorkflowSearchAttributesEventAttributes)) {
          const state = await handle.query(stateQuery);
          if (state.status === 'dead') return Date.now() - t0;
        }
        await sleep(HISTORY_POLL_MS);
      }
      throw new Error(`bench: ${workflowId} did not park within 60 s`);
    },
  );

  const deadline = Date.now() + 60_000;
  while (listed.size < n && Date.now() < deadline) await sleep(listPollMs);
  polling = false;
  await poller;

  const inHistory = await mapLimit([...published], 4, async ([workflowId, t0]) => {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const upsert = (history.events ?? []).find((e) => e.upsertWorkflowSearchAttributesEventAttributes);
    return upsert?.eventTime ? tsToMs(upsert.eventTime) - t0 : NaN;
  });
  const toVisibility = [...published].flatMap(([id, t0]) => {
    const at = listed.get(id);
    return at === undefined ? [] : [at - t0];
  });
  return {
    n,
    concurrency,
    toDeadByQueryMs: pcts(toDead),
    toDeadInHistoryMs: pcts(inHistory.filter((v) => Number.isFinite(v))),
    toVisibilityMs: pcts(toVisibility),
    historyPollMs: HISTORY_POLL_MS,
    listPollMs,
    rateLimitedPolls,
    sampleIds: [...published.keys()].slice(0, 10),
  };
}
