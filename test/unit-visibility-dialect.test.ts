/**
 * One visibility dialect (issue 14 item 6): `DlqParkedAt` holds whole seconds, and every window the CLI builds
 * on it uses a whole-second literal with `<` or `>=`, which SQLite (text) and PostgreSQL (time) compare alike.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wholeSecondLiteral } from '../src/contract/queries';
import { buildQuery } from '../src/cli/filters';

describe('whole-second DlqParkedAt literals', () => {
  it('round a fractional time up or down to a whole second, without milliseconds', () => {
    const t = Date.parse('2026-11-29T10:00:00.250Z');
    assert.equal(wholeSecondLiteral(t, 'ceil'), '2026-11-29T10:00:01Z');
    assert.equal(wholeSecondLiteral(t, 'floor'), '2026-11-29T10:00:00Z');
    const whole = Date.parse('2026-11-29T10:00:00Z');
    assert.equal(wholeSecondLiteral(whole, 'ceil'), '2026-11-29T10:00:00Z');
    assert.equal(wholeSecondLiteral(whole, 'floor'), '2026-11-29T10:00:00Z');
  });

  it('--older-than selects DlqParkedAt below the next whole second', () => {
    const now = new Date('2026-11-29T12:00:00.400Z');
    const query = buildQuery({ olderThan: '2h' }, { defaultStatus: 'dead', now });
    assert.match(query, /DlqParkedAt < "2026-11-29T10:00:01Z"/);
    assert.doesNotMatch(query, /\.\d{3}Z/);
  });
});
