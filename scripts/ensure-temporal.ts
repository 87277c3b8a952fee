/** `npm run temporal:ensure`: finds the Temporal CLI, or builds it once with Go into the cache, and prints its path. */
import { ensureTemporalCli } from '../src/ops/temporal-cli';

ensureTemporalCli().then(
  (path) => console.log(path),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
