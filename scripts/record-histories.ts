/**
 * `npm run histories:record`: records the current release's workflow histories for the replay suite,
 * keeping the previous release's.
 *
 * 1. Refuses to run when anything under test/histories/ is uncommitted (modified, deleted, staged or
 *    untracked): the move below would mix those changes into a release folder, and a second run right after
 *    a first one would file the histories it just recorded as a "previous release".
 * 2. Moves the top-level test/histories/*.json (the current release's) into the next free `vN/` folder
 *    (`v1/` exists → `v2/`; other folders such as `v1-to-v2/` are left alone). test/replay.test.ts replays
 *    every folder, so messages the previous release parked stay covered.
 * 3. Runs the suite with DLQ_RECORD_HISTORIES=1 over every test file that calls `recordHistory(` (so no
 *    recorded scenario is left out), which writes the new top-level histories.
 * 4. Runs test/replay.test.ts over the result: every history, old and new, replays on the current code.
 *
 * `--dry-run` prints what it would move and run, and changes nothing. Commit the result (the moved files
 * and the new ones) yourself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(__dirname, '..');
const testDir = join(root, 'test');
const historiesDir = join(testDir, 'histories');
const rel = (p: string) => relative(root, p) || '.';

/** Thrown for a condition that stops the script with a message and no stack. */
class Refusal extends Error {}

/** Uncommitted changes under test/histories/, as `git status --porcelain` lines. */
export function uncommittedHistories(): string[] {
  const git = spawnSync('git', ['status', '--porcelain', '--untracked-files=all', '--', rel(historiesDir)], {
    cwd: root,
    encoding: 'utf8',
  });
  if (git.error || git.status !== 0)
    throw new Refusal(
      `cannot tell whether ${rel(historiesDir)} has uncommitted changes: git status failed ` +
        `(${git.error?.message ?? git.stderr.trim()})`,
    );
  return git.stdout.split('\n').filter(Boolean);
}

/** The next free release folder name: one more than the highest `vN/` (`v1-to-v2/` and the like ignored). */
export function nextReleaseFolder(entries: string[]): string {
  const numbers = entries.map((e) => /^v(\d+)$/.exec(e)?.[1]).filter((n): n is string => n !== undefined);
  return `v${Math.max(0, ...numbers.map(Number)) + 1}`;
}

/** Test files that record histories (they call `recordHistory(`). */
export function recordingTestFiles(): string[] {
  return readdirSync(testDir)
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => readFileSync(join(testDir, f), 'utf8').includes('recordHistory('))
    .sort();
}

function runSuite(files: string[], env: NodeJS.ProcessEnv): number {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join('test', 'run-suite.ts'), ...files], {
    cwd: root,
    stdio: 'inherit',
    env,
  });
  if (run.error) throw run.error;
  return run.status ?? 1;
}

function main(argv: string[]): number {
  const dryRun = argv.includes('--dry-run');
  const unknown = argv.filter((a) => a !== '--dry-run');
  if (unknown.length) throw new Refusal(`unknown arguments: ${unknown.join(' ')} (only --dry-run)`);

  const dirty = uncommittedHistories();
  if (dirty.length)
    throw new Refusal(
      `${rel(historiesDir)} has uncommitted changes:\n${dirty.map((l) => `  ${l}`).join('\n')}\n` +
        `Recording moves the current histories into a release folder and writes new ones; with uncommitted ` +
        `changes there, the previous release's folder would get histories it never recorded (or, right ` +
        `after a recording, the new histories would be filed as the previous release). Commit or discard ` +
        `those changes first.`,
    );

  const entries = readdirSync(historiesDir);
  const current = entries
    .filter((f) => f.endsWith('.json') && statSync(join(historiesDir, f)).isFile())
    .sort();
  const release = join(
    historiesDir,
    nextReleaseFolder(entries.filter((e) => statSync(join(historiesDir, e)).isDirectory())),
  );
  if (existsSync(release)) throw new Refusal(`${rel(release)} exists already`);
  const files = recordingTestFiles();
  if (!files.length) throw new Refusal(`no test file under ${rel(testDir)} calls recordHistory(`);

  console.log(
    `${dryRun ? '[dry run] would move' : 'Moving'} ${current.length} histories of the previous release to ` +
      `${rel(release)}/: ${current.join(' ') || '(none)'}`,
  );
  console.log(`${dryRun ? '[dry run] would record with' : 'Recording with'}: ${files.join(' ')}`);
  if (dryRun) return 0;

  mkdirSync(release);
  for (const f of current) renameSync(join(historiesDir, f), join(release, f));

  // Recorded on the dev server only: the production tier would run the same tests again and overwrite them.
  const env = { ...process.env, DLQ_RECORD_HISTORIES: '1', DLQ_TEST_TIERS: 'dev' };
  const recorded = runSuite(files, env);
  const now = readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  console.log(`\nRecorded ${now.length} histories in ${rel(historiesDir)}/: ${now.join(' ')}`);
  if (recorded !== 0) {
    console.error(
      `The recording suite failed (exit ${recorded}): some histories may be missing. The previous ` +
        `release's are in ${rel(release)}/; fix the tests, then \`git checkout -- ${rel(historiesDir)}\`, ` +
        `remove ${rel(release)}/ and the new files, and run again.`,
    );
    return recorded;
  }

  console.log('\nReplaying every history (old and new) on the current code:');
  const replayed = runSuite(['replay.test.ts'], { ...process.env, DLQ_RECORD_HISTORIES: '' });
  if (replayed !== 0) {
    console.error(`The replay suite failed (exit ${replayed}): see above before committing.`);
    return replayed;
  }
  console.log(`\nDone: review and commit ${rel(release)}/ and the new top-level histories.`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Refusal ? `histories:record refused: ${err.message}` : err);
    process.exitCode = 1;
  }
}
