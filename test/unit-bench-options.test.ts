/** The bench's options: without `--server` it runs as before on the dev server; `--server postgres` changes only its defaults. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBenchOptions } from '../bench/options';

describe('bench options', () => {
  it('default to the dev server with the sizes and list poll of earlier runs', () => {
    const o = parseBenchOptions([], {});
    assert.equal(o.server, 'dev');
    assert.deepEqual(o.analyticsSizes, [1000, 5000, 20_000]);
    assert.equal(o.listPollMs, 50);
    assert.equal(o.fillBacklog, 0);
    assert.equal(o.happy, 2000);
    assert.equal(o.bulk, 5000);
  });

  it('--server postgres measures analytics up to 100 000 parked and polls visibility within its budget', () => {
    const o = parseBenchOptions(['--server', 'postgres'], {});
    assert.equal(o.server, 'postgres');
    assert.deepEqual(o.analyticsSizes, [1000, 20_000, 100_000]);
    assert.equal(o.listPollMs, 250);
    assert.equal(o.fillBacklog, 1000);
    assert.equal(o.happy, 2000);
    assert.deepEqual(parseBenchOptions([], { BENCH_SERVER: 'postgres' }).analyticsSizes, o.analyticsSizes);
  });

  it('keeps explicit sizes and --quick over the postgres defaults', () => {
    const sized = parseBenchOptions(['--server', 'postgres', '--analytics-sizes', '1000,8000'], {});
    assert.deepEqual(sized.analyticsSizes, [1000, 8000]);
    assert.deepEqual(
      parseBenchOptions(['--server', 'postgres', '--quick'], {}).analyticsSizes,
      [100, 300, 600],
    );
  });

  it('--fill seeded skips the bulk retry; --skip takes a list of phases and refuses others', () => {
    const real = parseBenchOptions([], {});
    assert.equal(real.fill, 'real');
    assert.deepEqual(real.skip, []);
    const seeded = parseBenchOptions(['--fill', 'seeded', '--skip', 'throughput'], {});
    assert.equal(seeded.fill, 'seeded');
    assert.deepEqual([...seeded.skip].sort(), ['bulk', 'throughput']);
    assert.throws(() => parseBenchOptions(['--fill', 'fake'], {}), /fill: must be 'real' or 'seeded'/);
    assert.throws(() => parseBenchOptions(['--skip', 'analytics'], {}), /skip/);
  });

  it('refuses an unknown server, naming the option', () => {
    assert.throws(() => parseBenchOptions(['--server', 'mysql'], {}), /server: must be 'dev' or 'postgres'/);
  });
});
