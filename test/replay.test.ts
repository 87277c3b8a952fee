/**
 * Deterministic replay: every committed history under test/histories/ must replay against the current
 * workflow code. Parked messages outlive deploys, so a change that fails here would break them in production.
 * The top level holds histories recorded by the current code (`npm run histories:record`, which first moves
 * the previous ones into the next `vN/` folder); `v1/` holds those of the release before local first
 * attempts, `v2/` those of the release before revision 3 (the attempt ledger), `v3/` those of the release
 * before revision 4 (the park memo), `v4/` those of the release before revision 5 (mirror events), each kept because messages they started may still be parked;
 * `v1-to-v2/` holds a message that release parked and the next recovered.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { requireEnv } from './helpers';
import { MIRROR_HISTORY_SCENARIOS, REQUIRED_HISTORY_SCENARIOS } from './history-scenarios';
import { POLICY_REVISION } from '../src/contract/topic-policy';

const dir = join(__dirname, 'histories');
const jsonIn = (sub: string) =>
  readdirSync(join(dir, sub))
    .filter((f) => f.endsWith('.json'))
    .map((f) => (sub ? `${sub}/${f}` : f))
    .sort();
const releases = readdirSync(dir).filter((f) => statSync(join(dir, f)).isDirectory());
const current = jsonIn('');
const files = [...current, ...releases.flatMap(jsonIn)];

describe('replay of committed histories', () => {
  it('has histories for every lifecycle path', () => {
    const names = current.map((f) => f.replace(/\.json$/, ''));
    for (const required of REQUIRED_HISTORY_SCENARIOS) {
      assert.ok(
        names.includes(required),
        `missing test/histories/${required}.json (record with npm run histories:record)`,
      );
    }
  });

  it('keeps the histories of the release before the local first attempt (every attempt an activity)', () => {
    const v1 = files.filter((f) => f.startsWith('v1/'));
    for (const required of ['succeeded', 'parked-temporary', 'stages-resumed', 'redrive-recovered'])
      assert.ok(v1.includes(`v1/${required}.json`), `missing test/histories/v1/${required}.json`);
  });

  it('keeps the histories of the release before revision 3 (local attempts without the ledger)', () => {
    for (const required of [
      'succeeded',
      'parked-temporary',
      'recovered-after-patch',
      'retry-after-local-attempt',
    ])
      assert.ok(files.includes(`v2/${required}.json`), `missing test/histories/v2/${required}.json`);
  });

  it('keeps the histories of the release before revision 4 (parked without the park memo)', () => {
    for (const required of REQUIRED_HISTORY_SCENARIOS)
      assert.ok(files.includes(`v3/${required}.json`), `missing test/histories/v3/${required}.json`);
  });

  it('has histories of the mirror events and immediate alerts (revision 5)', () => {
    for (const required of MIRROR_HISTORY_SCENARIOS)
      assert.ok(
        current.includes(`${required}.json`),
        `missing test/histories/${required}.json (record with npm run histories:record)`,
      );
  });

  it('keeps the histories of the release before revision 5 (no mirror events)', () => {
    for (const required of REQUIRED_HISTORY_SCENARIOS)
      assert.ok(files.includes(`v4/${required}.json`), `missing test/histories/v4/${required}.json`);
  });

  it('keeps a message parked by the previous release and recovered by the current one', () => {
    // Recorded once with the previous release's worker (commit 1153002) parking the message and the
    // current worker repairing it: the first cycle ran runStage as an activity task, the repaired one as a
    // local activity. Replaying it proves the promise of docs/upgrades.md for the branch on recorded data.
    const file = 'v1-to-v2/parked-under-v1-recovered.json';
    assert.ok(files.includes(file), `missing test/histories/${file}`);
    const events = (
      JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        events: Array<{
          eventType: string;
          activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
          markerRecordedEventAttributes?: {
            details?: Record<string, { payloads?: Array<{ data?: string }> }>;
          };
        }>;
      }
    ).events;
    const stageActivity = events.findIndex(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStage',
    );
    const markerText = (e: (typeof events)[number]) =>
      Object.values(e.markerRecordedEventAttributes?.details ?? {})
        .flatMap((d) => (d.payloads ?? []).map((p) => Buffer.from(p.data ?? '', 'base64').toString()))
        .join('\n');
    const policyLookups = events
      .map((e, i) => ({ i, text: markerText(e) }))
      .filter(({ text }) => text.includes('"stageTimeoutMs"'));
    const localStage = events.findIndex((e) => markerText(e).includes('"runStage"'));
    assert.equal(policyLookups.length, 2, 'one policy lookup (lookupRoute) per cycle');
    assert.ok(
      !policyLookups[0]!.text.includes('firstAttempt'),
      'the previous release recorded no firstAttempt',
    );
    assert.ok(
      policyLookups[1]!.text.includes('"firstAttempt":"local"'),
      'the current release recorded local',
    );
    assert.ok(
      stageActivity > policyLookups[0]!.i && stageActivity < policyLookups[1]!.i,
      'cycle 1: runStage as an activity task',
    );
    assert.ok(localStage > policyLookups[1]!.i, 'the repaired cycle: runStage as a local activity');
    assert.equal(events.at(-1)!.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
  });

  it('refuses a policy recorded by a newer release instead of following its own path', async () => {
    // parked-temporary.json with its lookupRoute marker rewritten to say revision POLICY_REVISION + 1: a worker of
    // this release must fail that workflow task (docs/upgrades.md), never write commands of its own path.
    const json = JSON.parse(readFileSync(join(dir, 'parked-temporary.json'), 'utf8')) as {
      events: Array<{
        markerRecordedEventAttributes?: { details?: Record<string, { payloads?: Array<{ data?: string }> }> };
      }>;
    };
    let rewritten = 0;
    for (const event of json.events)
      for (const payload of event.markerRecordedEventAttributes?.details?.result?.payloads ?? []) {
        const text = Buffer.from(payload.data ?? '', 'base64').toString();
        if (!text.includes('"stageTimeoutMs"')) continue;
        const policy = JSON.parse(text) as { revision: number };
        assert.equal(policy.revision, POLICY_REVISION, 'the committed history is of this release');
        payload.data = Buffer.from(JSON.stringify({ ...policy, revision: POLICY_REVISION + 1 })).toString(
          'base64',
        );
        rewritten += 1;
      }
    assert.ok(rewritten > 0, 'the history has a policy lookup');
    await assert.rejects(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE') } },
        historyFromJSON(json),
        'newer-revision',
      ),
      (err: unknown) =>
        /recorded by a newer release/.test(String((err as { cause?: unknown }).cause ?? err)) ||
        /recorded by a newer release/.test(String(err)),
    );
  });

  it('replays every history without a determinism violation', async () => {
    const histories = files.map((f) => ({
      workflowId: f,
      history: historyFromJSON(JSON.parse(readFileSync(join(dir, f), 'utf8'))),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: requireEnv('DLQ_TEST_WORKFLOW_BUNDLE') } },
      histories,
    )) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
