/**
 * The `dlq` CLI against a real server: every command, its output and its exit code.
 * Runs on both tiers of `npm test` (test/run-suite.ts), which says which in DLQ_TEST_TIER: `dev`, the CLI's
 * dev server (SQLite, raised limits), and `production`, server 1.29.1 on PostgreSQL with its stock dynamic config.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parse } from 'csv-parse/sync';
import { Client, Connection } from '@temporalio/client';
import { openTestEnv, runCliCaptured, uid, waitFor, waitForStatus } from './helpers';
import type { TestEnv } from './helpers';
import { createCliContext } from '../src/cli/context';
import type { CliContext } from '../src/cli/context';
import { runCli } from '../src/cli/main';
import { defineHandler } from '../src/worker/handlers';
import { publishMany } from '../src/client/publish';
import { PermanentError } from '../src/contract/errors';
import { stateQuery } from '../src/contract/definitions';
import { messageWorkflowId } from '../src/contract/names';

const ORDERS = `cli-orders-${uid()}`;
const BULK = `cli-bulk-${uid()}`;
const GONE = `cli-gone-${uid()}`;
const BULK_COUNT = 200;
const UI = 'http://ui.example.test';
const dir = mkdtempSync(join(tmpdir(), 'dlq-cli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

let env: TestEnv;
const orderSchema = z.object({ orderId: z.string(), quantity: z.number().int().positive() });

interface Run {
  code: number;
  out: string;
  err: string;
  json: <T = Record<string, unknown>>() => T;
}

/** Runs the CLI in-process with captured output, on this file's task queue. */
async function dlq(...argv: string[]): Promise<Run> {
  const run = await runCliCaptured(
    { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue, DLQ_UI_URL: UI },
    argv,
  );
  return { ...run, json: <T>() => JSON.parse(run.out) as T };
}

/** Runs `bin/dlq.js`-equivalent from source in a child process (stdin, real exit codes). */
function spawnDlq(argv: string[], extraEnv: Record<string, string>, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '-e',
        "require('tsx/cjs'); require('./src/cli/main.ts').runCli(process.argv.slice(1)).then((c) => process.exit(c))",
        '--',
        ...argv,
      ],
      { cwd: join(__dirname, '..'), env: { ...process.env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err, json: <T>() => JSON.parse(out) as T }));
    child.stdin.end(stdin);
  });
}

/** Runs the CLI in-process on a context of the test's own, to put a fault where a real one would surface. */
async function dlqWith(
  argv: string[],
  cliEnv: Record<string, string>,
  overrides: Partial<CliContext> = {},
): Promise<Run> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    ...createCliContext({ LOG_LEVEL: 'silent', TEMPORAL_ADDRESS: env.address, ...cliEnv }),
    print: (t) => void (out += `${t}\n`),
    json: (v) => void (out += `${JSON.stringify(v)}\n`),
    warn: (t) => void (err += `${t}\n`),
    isTty: false,
    ...overrides,
  };
  const code = await runCli(argv, ctx);
  return { code, out, err, json: <T>() => JSON.parse(out) as T };
}

/** The one JSON document a `--json` run wrote to stderr. */
function jsonError(run: Run): { code: string; message: string; problems?: string[]; stack?: string } {
  const lines = run.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stderr, got: ${run.err}`);
  return (
    JSON.parse(lines[0]!) as { error: { code: string; message: string; problems?: string[]; stack?: string } }
  ).error;
}

const state = (workflowId: string) => env.client.workflow.getHandle(workflowId).query(stateQuery);
const visible = (query: string, n: number) =>
  waitFor(
    `${n} workflows matching ${query}`,
    async () => ((await env.client.workflow.count(query)).count === n ? true : undefined),
    60_000,
  );

before(async () => {
  env = await openTestEnv();
  await env.startWorker([
    defineHandler({ topic: ORDERS, schema: orderSchema, handle: ({ payload }) => ({ ok: payload.orderId }) }),
    defineHandler({ topic: BULK, schema: orderSchema, handle: ({ payload }) => ({ ok: payload.orderId }) }),
    defineHandler({
      topic: GONE,
      handle: ({ envelope }) => {
        throw new PermanentError(`customer ${envelope.id} does not exist`, { reason: 'HTTP_404' });
      },
    }),
  ]);
});
after(async () => env.close());

describe('dlq CLI', () => {
  const o1 = messageWorkflowId(ORDERS, 'o-1');

  it('every command has --help (exit 0)', async () => {
    for (const command of ['publish', 'list', 'show', 'retry', 'discard', 'export']) {
      const { code } = await dlq(command, '--help');
      assert.equal(code, 0, command);
    }
    assert.equal((await dlq('--help')).code, 0);
  });

  it('a connection error exits 2 and names TEMPORAL_ADDRESS', async () => {
    const run = await spawnDlq(['list'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(run.code, 2);
    assert.match(run.err, /TEMPORAL_ADDRESS=127\.0\.0\.1:1/);
    const bad = await spawnDlq(['list'], { TEMPORAL_ADDRESS: 'not an address' });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /TEMPORAL_ADDRESS/);
  });

  it('publish: a single message from flags', async () => {
    const run = await dlq(
      'publish',
      '--topic',
      ORDERS,
      '--id',
      'o-1',
      '--payload',
      '{"orderId":"o-1","quantity":"2"}',
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, new RegExp(`published ${o1}`));
    await waitForStatus(env.client, o1, 'dead');
    const again = await dlq('publish', '--topic', ORDERS, '--id', 'o-1', '--payload', '{}');
    assert.equal(again.code, 0);
    assert.match(again.out, /duplicate/);
    const malformed = await dlq('publish', '--topic', ORDERS, '--id', 'o-x', '--payload', '{nope');
    assert.equal(malformed.code, 1);
    assert.match(malformed.err, /--payload: malformed JSON/);
  });

  it('publish: a JSONL file reports bad lines by number and publishes the rest', async () => {
    const lines = [
      JSON.stringify({ id: 'o-2', topic: ORDERS, payload: { orderId: 'o-2', quantity: 'two' } }),
      '{this is not json',
      JSON.stringify({ id: 'bad id!', topic: ORDERS, payload: {} }),
      '',
      JSON.stringify({ id: 'o-3', topic: ORDERS, payload: { orderId: 'o-3', quantity: 0 } }),
    ];
    const run = await dlq('publish', file('in.jsonl', lines.join('\n')), '--json');
    assert.equal(run.code, 1);
    const report = run.json<{
      published: number;
      refused: number;
      results: Array<{ line: number; ok: boolean; problems?: string[] }>;
    }>();
    assert.equal(report.published, 2);
    assert.equal(report.refused, 2);
    assert.deepEqual(
      report.results.filter((r) => !r.ok).map((r) => r.line),
      [2, 3],
    );
    assert.match(report.results.find((r) => r.line === 3)!.problems!.join(), /^id:/);
    assert.match(run.err, /2 of 4 messages were refused/);
    await waitForStatus(env.client, messageWorkflowId(ORDERS, 'o-2'), 'dead');
    await waitForStatus(env.client, messageWorkflowId(ORDERS, 'o-3'), 'dead');
  });

  it('publish: JSONL from stdin, in a child process', async () => {
    const stdin = [1, 2, 3]
      .map((i) =>
        JSON.stringify({
          id: `g-${i}`,
          topic: GONE,
          payload: { customer: i, note: 'comma, "quote"\nnewline' },
        }),
      )
      .join('\n');
    const run = await spawnDlq(
      ['publish'],
      { TEMPORAL_ADDRESS: env.address, TEMPORAL_TASK_QUEUE: env.taskQueue },
      stdin,
    );
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out.match(/^line \d: published/gm)?.length, 3);
    for (const i of [1, 2, 3]) await waitForStatus(env.client, messageWorkflowId(GONE, `g-${i}`), 'dead');
  });

  it('list: filters, table and JSON', async () => {
    await visible(`DlqTopic = "${ORDERS}" AND DlqStatus = "dead"`, 3);
    const table = await dlq('list', '--topic', ORDERS);
    assert.equal(table.code, 0, table.err);
    for (const col of ['id', 'topic', 'class', 'reason', 'attempts', 'age', 'error'])
      assert.match(table.out, new RegExp(col));
    assert.match(table.out, /o-1 .*validation .*VALIDATION_ERROR/);
    assert.match(table.out, /3 shown of 3/);
    assert.match(table.out, /Web UI: http:\/\/ui\.example\.test\/namespaces\/default\/workflows\?query=/);

    const json = (
      await dlq('list', '--topic', ORDERS, '--class', 'validation', '--reason', 'VALIDATION_ERROR', '--json')
    ).json<{
      total: number;
      messages: Array<{ messageId: string; fingerprint: string; error?: string }>;
    }>();
    assert.equal(json.total, 3);
    assert.deepEqual(json.messages.map((m) => m.messageId).sort(), ['o-1', 'o-2', 'o-3']);
    assert.ok(json.messages.every((m) => m.error && m.fingerprint));

    const group = json.messages[0]!.fingerprint;
    assert.equal((await dlq('list', '--group', group, '--json')).json<{ total: number }>().total >= 1, true);
    assert.equal(
      (await dlq('list', '--topic', ORDERS, '--class', 'security', '--json')).json<{ total: number }>().total,
      0,
    );
    assert.equal(
      (await dlq('list', '--topic', ORDERS, '--older-than', '1d', '--json')).json<{ total: number }>().total,
      0,
    );
    const raw = await dlq('list', '--query', `DlqTopic = "${GONE}" AND DlqAttempts >= 1`, '--json');
    assert.equal(raw.json<{ total: number }>().total, 3);
  });

  it('list: bad filters are clear errors (exit 1)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--class', 'nope'], /Allowed choices are temporary, permanent/],
      [['--status', 'gone'], /Allowed choices are dead/],
      [['--older-than', 'soon'], /--older-than "soon": must be a duration/],
      [['--group', 'zzz'], /--group "zzz": must be a 16-hex-character fingerprint/],
      [['--topic', 'a b'], /--topic "a b"/],
      [['--reason', 'x"y'], /--reason/],
      [['--query', 'DlqTopic = "x'], /unterminated " quote/],
      [['--query', '(DlqTopic = "x"'], /unbalanced "\("/],
      [['--query', 'DlqTopic = "x" ORDER BY StartTime'], /ORDER BY/],
      [['--query', 'NoSuchAttribute = 3'], /the server rejected the visibility query/],
      [['--limit', '0'], /--limit "0"/],
    ];
    for (const [args, pattern] of cases) {
      const run = await dlq('list', ...args);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.err, pattern, args.join(' '));
    }
  });

  it('show: by workflow id, by message id with --topic, and found by its DlqMessageId', async () => {
    const run = await dlq('show', o1);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /Dead letter/);
    assert.match(run.out, /class +validation/);
    assert.match(run.out, /"quantity": "2"/);
    assert.match(run.out, /Audit trail/);
    assert.match(run.out, /parked/);
    assert.ok(run.out.includes(`Web UI: ${UI}/namespaces/default/workflows/${encodeURIComponent(o1)}`));
    const byTopic = (await dlq('show', 'o-1', '--topic', ORDERS, '--json')).json<{
      workflowId: string;
      status: string;
      uiUrl: string;
    }>();
    assert.equal(byTopic.workflowId, o1);
    assert.equal(byTopic.status, 'dead');
    const scanned = (await dlq('show', 'g-1', '--json')).json<{ workflowId: string }>();
    assert.equal(scanned.workflowId, messageWorkflowId(GONE, 'g-1'));
  });

  it('show: unknown ids exit 1 with a clear error', async () => {
    const unknown = await dlq('show', `msg:${ORDERS}:nope`);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no message workflow "msg:.*:nope" exists/);
    const bare = await dlq('show', `never-${uid()}`);
    assert.equal(bare.code, 1);
    assert.match(bare.err, /no message with id/);
  });

  it('retry: malformed patches, rejected patches and unknown ids change nothing (exit 1)', async () => {
    const before = await state(o1);
    const malformed = await dlq('retry', o1, '--patch', file('bad.json', '{"quantity": 2,,}'));
    assert.equal(malformed.code, 1);
    assert.match(malformed.err, /--patch .*bad\.json: malformed JSON/);
    const notObject = await dlq('retry', o1, '--patch', file('arr.json', '[1,2]'));
    assert.equal(notObject.code, 1);
    assert.match(notObject.err, /invalid repair:\n {2}- patch: must be a JSON object/);
    const missing = await dlq('retry', o1, '--patch', join(dir, 'missing.json'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /cannot read the file \(ENOENT\)/);
    const rejected = await dlq('retry', o1, '--patch', file('neg.json', '{"quantity": -1}'));
    assert.equal(rejected.code, 1);
    assert.match(rejected.err, /repair rejected for msg:.*nothing changed:\n {2}- payload\.quantity:/);
    const unknown = await dlq('retry', `msg:${ORDERS}:nope`, '--patch', file('ok.json', '{"quantity": 2}'));
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no message workflow/);
    const both = await dlq('retry', o1, '--group', '0123456789abcdef');
    assert.equal(both.code, 1);
    const after = await state(o1);
    assert.equal(after.status, 'dead');
    assert.equal(after.payloadVersion, before.payloadVersion);
    assert.deepEqual(after.envelope.payload, before.envelope.payload);
  });

  it('retry: a valid patch is accepted and the message recovers; retrying again is refused', async () => {
    const run = await dlq(
      'retry',
      'o-1',
      '--topic',
      ORDERS,
      '--patch',
      file('fix.json', '{"quantity": 2}'),
      '--reason',
      'string quantity',
      '--operator',
      'alice',
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /accepted .*retrying with payload v2/);
    const outcome = (await env.client.workflow.getHandle(o1).result()) as { status: string };
    assert.equal(outcome.status, 'recovered');
    const shown = (await dlq('show', o1, '--json')).json<{
      status: string;
      audit: Array<{ action: string; operator?: string; reason?: string }>;
    }>();
    assert.equal(shown.status, 'recovered');
    assert.ok(
      shown.audit.some(
        (a) => a.action === 'retry' && a.operator === 'alice' && a.reason === 'string quantity',
      ),
    );
    const again = await dlq('retry', o1);
    assert.equal(again.code, 1);
    assert.match(again.err, /is recovered, not dead/);
  });

  it(
    `bulk retry: ${BULK_COUNT} parked messages in one group, dry run, patch, all recovered, re-run does nothing`,
    { timeout: 240_000 },
    async () => {
      const messages = Array.from({ length: BULK_COUNT }, (_, i) => ({
        id: `b-${i}`,
        topic: BULK,
        payload: { orderId: `b-${i}`, quantity: String(i + 1), note: 'imported from csv' },
      }));
      const published = await publishMany(env.client, messages, { taskQueue: env.taskQueue });
      assert.ok(published.every((r) => r.ok));
      await visible(`DlqTopic = "${BULK}" AND DlqStatus = "dead"`, BULK_COUNT);
      const listed = (await dlq('list', '--topic', BULK, '--limit', '1', '--no-errors', '--json')).json<{
        messages: Array<{ fingerprint: string }>;
      }>();
      const group = listed.messages[0]!.fingerprint;
      assert.equal(
        (await dlq('list', '--group', group, '--json', '--no-errors', '--limit', '1')).json<{
          total: number;
        }>().total,
        BULK_COUNT,
      );

      // The patch sets quantity from a string to a number: the same fix for the whole group.
      const patch = file('bulk-fix.json', JSON.stringify({ quantity: 1, note: null }));

      const dry = await dlq('retry', '--group', group, '--patch', patch, '--dry-run');
      assert.equal(dry.code, 0, dry.err);
      assert.match(dry.out, new RegExp(`Dry run: ${BULK_COUNT} dead message\\(s\\) match`));
      assert.match(dry.out, /- {3}"quantity": "\d+",/);
      assert.match(dry.out, /\+ {3}"quantity": 1/);
      assert.match(dry.out, /- {3}"note": "imported from csv"/);
      const dryJson = (
        await dlq('retry', '--group', group, '--patch', patch, '--dry-run', '--json', '--sample', '2')
      ).json<{ count: number; previews: unknown[] }>();
      assert.equal(dryJson.count, BULK_COUNT);
      assert.equal(dryJson.previews.length, 2);
      assert.equal(
        (await env.client.workflow.count(`DlqTopic = "${BULK}" AND DlqStatus = "dead"`)).count,
        BULK_COUNT,
      );
      assert.equal((await state(messageWorkflowId(BULK, 'b-0'))).payloadVersion, 1);

      const unconfirmed = await dlq('retry', '--group', group, '--patch', patch);
      assert.equal(unconfirmed.code, 1);
      assert.match(unconfirmed.err, /pass --yes/);

      const started = Date.now();
      const run = await dlq(
        'retry',
        '--group',
        group,
        '--patch',
        patch,
        '--rate',
        '400/s',
        '--concurrency',
        '16',
        '--yes',
        '--json',
      );
      assert.equal(run.code, 0, run.err + run.out);
      const report = run.json<{ selected: number; accepted: number; rejected: number; errors: number }>();
      assert.equal(report.accepted, BULK_COUNT);
      assert.equal(report.rejected + report.errors, 0);
      assert.ok(Date.now() - started >= ((BULK_COUNT - 1) / 400) * 1000 - 50, 'rate-limited');
      await visible(`DlqTopic = "${BULK}" AND DlqStatus = "recovered"`, BULK_COUNT);
      const sample = (await env.client.workflow.getHandle(messageWorkflowId(BULK, 'b-7')).result()) as {
        payloadVersion: number;
      };
      assert.equal(sample.payloadVersion, 2);

      const rerun = await dlq('retry', '--group', group, '--patch', patch, '--yes', '--json');
      assert.equal(rerun.code, 0, rerun.err);
      assert.equal(rerun.json<{ selected: number; accepted: number }>().accepted, 0);
      assert.equal(rerun.json<{ selected: number }>().selected, 0);
    },
  );

  it('bulk retry: a patch the schema rejects is reported per message and nothing changes', async () => {
    const run = await dlq(
      'retry',
      '--topic',
      ORDERS,
      '--patch',
      file('neg2.json', '{"quantity": -5}'),
      '--yes',
      '--json',
    );
    assert.equal(run.code, 1);
    const report = run.json<{
      selected: number;
      rejected: number;
      failures: Array<{ verdict: string; problems: string[] }>;
    }>();
    assert.equal(report.selected, 2);
    assert.equal(report.rejected, 2);
    assert.ok(
      report.failures.every(
        (f) => f.verdict === 'rejected' && f.problems.some((p) => p.startsWith('payload.quantity:')),
      ),
    );
    for (const id of ['o-2', 'o-3']) {
      const s = await state(messageWorkflowId(ORDERS, id));
      assert.equal(s.status, 'dead');
      assert.equal(s.payloadVersion, 1);
    }
  });

  it('export: JSONL re-parses to the same dead letters; CSV parses to the same row count', async () => {
    const jsonl = join(dir, 'out.jsonl');
    const run = await dlq('export', '--topic', GONE, '--format', 'jsonl', '--out', jsonl);
    assert.equal(run.code, 0, run.err);
    assert.match(run.err, /exported 3 message/);
    const records = readFileSync(jsonl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { workflowId: string; status: string; from: string; deadLetter: unknown });
    assert.equal(records.length, 3);
    for (const r of records) {
      assert.equal(r.status, 'dead');
      // Read from the park memo, which keeps everything of the dead letter but its stack.
      assert.equal(r.from, 'memo');
      const { stack: _stack, ...deadLetter } = (await state(r.workflowId)).deadLetter!;
      assert.deepEqual(r.deadLetter, deadLetter);
    }
    const csvPath = join(dir, 'out.csv');
    const csvRun = await dlq('export', '--topic', GONE, '--format', 'csv', '--out', csvPath);
    assert.equal(csvRun.code, 0, csvRun.err);
    const rows = parse<Record<string, string>>(readFileSync(csvPath, 'utf8'), { columns: true });
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.equal(row.reason, 'HTTP_404');
      assert.equal((JSON.parse(row.payload!) as { note: string }).note, 'comma, "quote"\nnewline');
    }
    const bad = await dlq('export', '--format', 'xml');
    assert.equal(bad.code, 1);
    const missing = await dlq('export');
    assert.equal(missing.code, 1);
  });

  it('discard: one message with a reason; bulk needs --yes off a terminal; unknown ids exit 1', async () => {
    const g1 = messageWorkflowId(GONE, 'g-1');
    const noReason = await dlq('discard', g1);
    assert.equal(noReason.code, 1);
    assert.match(noReason.err, /--reason is required/);
    const unknown = await dlq('discard', `msg:${GONE}:nope`, '--reason', 'x');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no message workflow/);
    const one = await dlq('discard', g1, '--reason', 'customer deleted', '--operator', 'bob');
    assert.equal(one.code, 0, one.err);
    const outcome = (await env.client.workflow.getHandle(g1).result()) as {
      status: string;
      audit: Array<{ action: string; reason?: string; operator?: string }>;
    };
    assert.equal(outcome.status, 'discarded');
    assert.ok(
      outcome.audit.some(
        (a) => a.action === 'discard' && a.reason === 'customer deleted' && a.operator === 'bob',
      ),
    );

    await visible(`DlqTopic = "${GONE}" AND DlqStatus = "dead"`, 2);
    const refused = await dlq('discard', '--topic', GONE, '--reason', 'cleanup');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /pass --yes/);
    assert.equal((await state(messageWorkflowId(GONE, 'g-2'))).status, 'dead');

    const bulk = await dlq('discard', '--topic', GONE, '--reason', 'cleanup', '--yes', '--json');
    assert.equal(bulk.code, 0, bulk.err);
    assert.equal(bulk.json<{ accepted: number }>().accepted, 2);
    await visible(`DlqTopic = "${GONE}" AND DlqStatus = "discarded"`, 3);
    const again = await dlq('discard', '--topic', GONE, '--reason', 'cleanup', '--yes');
    assert.equal(again.code, 0);
    assert.match(again.out, /nothing to discard/);
  });

  it('--server-side with --rate is refused, saying the server ignores a batch rate; nothing is sent', async () => {
    await visible(`DlqTopic = "${ORDERS}" AND DlqStatus = "dead"`, 2);
    for (const command of [
      ['discard', '--topic', ORDERS, '--reason', 'paced', '--server-side', '--rate', '5/s', '--yes'],
      ['retry', '--topic', ORDERS, '--server-side', '--rate', '5/s', '--yes'],
    ]) {
      const run = await dlq(...command);
      assert.equal(run.code, 1, run.out);
      assert.match(run.err, /--rate cannot limit --server-side: .*worker\.batcherRPS/);
    }
    await visible(`DlqTopic = "${ORDERS}" AND DlqStatus = "dead"`, 2);
  });

  it('discard --server-side: Temporal batch operation signals every selected message', async () => {
    await visible(`DlqTopic = "${ORDERS}" AND DlqStatus = "dead"`, 2);
    const run = await dlq(
      'discard',
      '--topic',
      ORDERS,
      '--reason',
      'batch cleanup',
      '--server-side',
      '--yes',
      '--json',
    );
    assert.equal(run.code, 0, run.err);
    const report = run.json<{ state: string; total: number; completed: number; failed: number }>();
    assert.equal(report.state, 'COMPLETED');
    assert.equal(report.completed, 2);
    for (const id of ['o-2', 'o-3']) {
      const outcome = (await env.client.workflow.getHandle(messageWorkflowId(ORDERS, id)).result()) as {
        status: string;
      };
      assert.equal(outcome.status, 'discarded');
    }
  });
});

describe('dlq CLI: version, exit codes and errors', () => {
  const STACK_FRAME = /\n\s+at /;
  /** A bug in the CLI as it surfaces: a TypeError thrown while a command runs. */
  const bug = () => new TypeError("Cannot read properties of undefined (reading 'status')");

  it('--version and -V print the version in package.json (exit 0)', async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const run = await dlq(flag);
      assert.equal(run.code, 0, run.err);
      assert.equal(run.out.trim(), version);
    }
  });

  it('a usage error exits 1 with one error line (and the help); with --json, one JSON document on stderr', async () => {
    const human = await dlq('list', '--no-such-flag');
    assert.equal(human.code, 1);
    assert.match(human.err, /^error: unknown option '--no-such-flag'\n/);
    assert.match(human.err, /Usage: dlq list/);
    for (const argv of [
      ['list', '--no-such-flag', '--json'],
      ['show', '--json'],
      ['no-such-command', '--json'],
    ]) {
      const run = await dlq(...argv);
      assert.equal(run.code, 1, argv.join(' '));
      assert.equal(run.out, '', argv.join(' '));
      assert.equal(jsonError(run).code, 'usage', argv.join(' '));
    }
  });

  it('a user error exits 1; with --json its message is JSON on stderr', async () => {
    const human = await dlq('show', 'msg:nowhere:none');
    assert.equal(human.code, 1);
    assert.match(human.err, /^error: no message workflow "msg:nowhere:none" exists\n$/);
    const run = await dlq('show', 'msg:nowhere:none', '--json');
    assert.equal(run.code, 1);
    assert.equal(run.out, '');
    assert.deepEqual(jsonError(run), {
      code: 'user',
      message: 'no message workflow "msg:nowhere:none" exists',
    });
  });

  it('an invalid configuration exits 2 naming every bad variable; with --json as problems', async () => {
    const bad = { TEMPORAL_TLS: 'maybe', DLQ_MAX_PAYLOAD_BYTES: 'lots' };
    const human = await dlqWith(['list'], bad);
    assert.equal(human.code, 2);
    assert.match(human.err, /^error: invalid configuration: .*TEMPORAL_TLS.*DLQ_MAX_PAYLOAD_BYTES/);
    const run = await dlqWith(['list', '--json'], bad);
    assert.equal(run.code, 2);
    const error = jsonError(run);
    assert.equal(error.code, 'config');
    assert.equal(error.problems?.length, 2);
  });

  it('an unreachable server exits 2; with --json, code "unreachable" on stderr (child process)', async () => {
    const run = await spawnDlq(['list', '--json'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(run.code, 2);
    assert.equal(run.out, '');
    const error = jsonError(run);
    assert.equal(error.code, 'unreachable');
    assert.match(error.message, /TEMPORAL_ADDRESS=127\.0\.0\.1:1/);
  });

  it('a server lost during a command (gRPC UNAVAILABLE) is "unreachable" (exit 2), not an unexpected failure', async () => {
    // A real client whose server is gone: the lazy connection to a closed port fails on the first call. Without
    // the SDK's retry interceptor it fails at once (with it, after about 40 s of retries) with the same error.
    const connection = Connection.lazy({ address: '127.0.0.1:1', interceptors: [] });
    try {
      const client = new Client({ connection });
      const human = await dlqWith(['list'], {}, { client: () => Promise.resolve(client) });
      assert.equal(human.code, 2, human.err);
      assert.match(human.err, /^error: the Temporal server became unavailable: /);
      const run = await dlqWith(['list', '--json'], {}, { client: () => Promise.resolve(client) });
      assert.equal(run.code, 2, run.err);
      assert.equal(jsonError(run).code, 'unreachable');
    } finally {
      await connection.close();
    }
  });

  it('an unexpected failure exits 3 with one line and no stack; --verbose or DEBUG=dlq shows the stack', async () => {
    const failing = { client: () => Promise.reject(bug()) };
    const quiet = await dlqWith(['list'], {}, failing);
    assert.equal(quiet.code, 3);
    assert.equal(quiet.err.trimEnd().split('\n').length, 1, quiet.err);
    assert.match(quiet.err, /^error: unexpected failure: TypeError: Cannot read properties of undefined/);
    assert.match(quiet.err, /--verbose or DEBUG=dlq/);
    assert.doesNotMatch(quiet.err, STACK_FRAME);

    const verbose = await dlqWith(['list', '--verbose'], {}, failing);
    assert.equal(verbose.code, 3);
    assert.match(verbose.err, /^error: unexpected failure: TypeError: /);
    assert.match(verbose.err, STACK_FRAME);
    const debug = await dlqWith(['list'], { DEBUG: 'dlq' }, failing);
    assert.equal(debug.code, 3);
    assert.match(debug.err, STACK_FRAME);

    const json = await dlqWith(['list', '--json'], {}, failing);
    assert.equal(json.code, 3);
    assert.equal(json.out, '');
    const error = jsonError(json);
    assert.equal(error.code, 'internal');
    assert.match(error.message, /^TypeError: Cannot read properties of undefined/);
    assert.equal(error.stack, undefined);
    const jsonVerbose = jsonError(await dlqWith(['list', '--json', '--verbose'], {}, failing));
    assert.match(jsonVerbose.stack ?? '', STACK_FRAME);
  });
});
