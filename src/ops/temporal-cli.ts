/**
 * Finds or builds the Temporal CLI (dev server + SQLite + Web UI in one binary). Order: `TEMPORAL_CLI`,
 * the cached build, a `temporal` on PATH, else `go install` into the cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The one pinned Temporal CLI version (the newest tag `go install` accepts). */
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export function cachedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheRoot, 'temporal-dlq', `temporal-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** The first `name` on PATH. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export class TemporalCliUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `No Temporal CLI is available (${detail}). Ways out:\n` +
        `  - install the Temporal CLI and put \`temporal\` on PATH, or set TEMPORAL_CLI=/path/to/temporal;\n` +
        `  - install Go (https://go.dev/dl) so it can be built: go install ${TEMPORAL_CLI_MODULE}@v${TEMPORAL_CLI_VERSION};\n` +
        `  - or run a server with Docker: docker compose up, then set TEMPORAL_ADDRESS=127.0.0.1:7233.`,
    );
    this.name = 'TemporalCliUnavailableError';
  }
}

/** Resolves the binary without building: undefined when a build is needed. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI) {
    if (!existsSync(env.TEMPORAL_CLI))
      throw new TemporalCliUnavailableError(`TEMPORAL_CLI=${env.TEMPORAL_CLI} does not exist`);
    return env.TEMPORAL_CLI;
  }
  const cached = cachedCliPath(env);
  if (existsSync(cached)) return cached;
  return onPath('temporal', env);
}

/** A working `go` (on PATH, else Go's standard install location), or undefined. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const go = onPath('go', env) ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  return go && spawnSync(go, ['version']).status === 0 ? go : undefined;
}

/** Resolves the binary, building it with Go into the cache when nothing else is there. */
export async function ensureTemporalCli(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const found = findTemporalCli(env);
  if (found) return found;
  const go = findGo(env);
  if (!go) throw new TemporalCliUnavailableError('no binary found and no Go toolchain');
  const target = cachedCliPath(env);
  const binDir = join(target, '..');
  mkdirSync(binDir, { recursive: true });
  log(
    `Building the Temporal CLI v${TEMPORAL_CLI_VERSION} with Go into ${binDir}. The first build takes a few minutes; it is cached afterwards.`,
  );
  const started = Date.now();
  await goInstall({
    go,
    args: [`${TEMPORAL_CLI_MODULE}@v${TEMPORAL_CLI_VERSION}`],
    binDir,
    env,
    log,
    everyMs: 15_000,
    built: () => existsSync(target),
    failure: (detail) => new TemporalCliUnavailableError(detail),
  });
  log(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s: ${target}`);
  return target;
}

/**
 * `go install` into `binDir`, logging progress (modules downloaded, packages compiled) every `everyMs`.
 * Shared by the CLI and the server builds. Rejects with `failure(detail)` when the build fails or `built()`
 * says the binaries are not there afterwards.
 */
export function goInstall(options: {
  go: string;
  args: string[];
  binDir: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  everyMs: number;
  built: () => boolean;
  failure: (detail: string) => Error;
}): Promise<void> {
  const { env, log } = options;
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const child = spawn(options.go, ['install', '-x', ...options.args], {
      env: { ...env, GOBIN: options.binDir, GOFLAGS: env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let downloads = 0;
    let compiled = 0;
    let tail = '';
    const ticker = setInterval(() => {
      log(
        `  ... ${Math.round((Date.now() - started) / 1000)}s: ${downloads} modules downloaded, ${compiled} packages compiled`,
      );
    }, options.everyMs);
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      downloads += (text.match(/^go: downloading /gm) ?? []).length;
      compiled += (text.match(/\/compile /g) ?? []).length;
    });
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(err);
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0 && options.built()) resolve();
      else reject(options.failure(`go install failed with exit code ${code}:\n${tail}`));
    });
  });
}
