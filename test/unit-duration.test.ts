/**
 * The duration grammar the docs promise, and no more: what `ms` would add (negatives, years, weeks, long
 * unit names) stays refused, and every formatted duration parses back to the same milliseconds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../src/contract/duration';

describe('parseDuration', () => {
  it('accepts the documented forms, with surrounding spaces', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration(' 5m '), 300_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('250'), 250);
  });
  it('refuses what ms would accept beyond the documented syntax', () => {
    for (const text of ['-1h', '1y', '2w', '2 weeks', '1.5 hours', '5M', '.5s', ''])
      assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  });
  it('formats every duration so that it parses back exactly', () => {
    for (const ms of [1, 999, 1_000, 90_000, 5_400_000, 86_400_000, 14 * 86_400_000, 86_401_000])
      assert.equal(parseDuration(formatDuration(ms)), ms, `${ms} → ${formatDuration(ms)}`);
  });
});
