/** The sandbox lint rule really rejects Node built-ins, I/O modules and value imports of activities under workflows/. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = join(__dirname, '..');

describe('workflow sandbox lint rule', () => {
  it('flags node:fs, pino and a value import of activities, and allows `import type`', async () => {
    const file = join(root, 'workflows', `lint-probe-${randomUUID().slice(0, 8)}.ts`);
    writeFileSync(
      file,
      [
        "import { readFileSync } from 'node:fs';",
        "import pino from 'pino';",
        "import { createMessageActivities } from '../activities/message-activities';",
        "import type { MessageActivities } from '../activities/message-activities';",
        'export const probe: unknown[] = [readFileSync, pino, createMessageActivities];',
        'export type Probe = MessageActivities;',
        '',
      ].join('\n'),
    );
    try {
      const [result] = await new ESLint({ cwd: root }).lintFiles([file]);
      const restricted = result!.messages
        .filter((m) => m.ruleId === 'no-restricted-imports')
        .map((m) => m.line);
      assert.deepEqual(restricted, [1, 2, 3]);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
