/**
 * Finds or builds the production Temporal server and its SQL schema tool (server v1.29.1, the version the
 * pinned CLI embeds). Order, for each binary: `TEMPORAL_SERVER_BIN` / `TEMPORAL_SQL_TOOL_BIN`, the cached
 * build beside the CLI's (`~/.cache/temporal-dlq/temporal-1.5.1/server` and `sql`), else `go install` of
 * the missing ones into that cache. Modelled on `temporal-cli.ts`; used by the suite's production tier
 * (`src/ops/production-server.ts`).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cachedCliPath, findGo, goInstall, TEMPORAL_CLI_VERSION } from './temporal-cli';

/** The server version the pinned CLI embeds; its go.mod has no `replace`, so `go install` takes it. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';

interface BinarySpec {
  /** Environment variable naming an existing binary. */
  envVar: 'TEMPORAL_SERVER_BIN' | 'TEMPORAL_SQL_TOOL_BIN';
  /** Go package built by `go install`; the binary is named after its last path element. */
  pkg: string;
  file: string;
}

const SPECS = {
  server: { envVar: 'TEMPORAL_SERVER_BIN', pkg: 'go.temporal.io/server/cmd/server', file: 'server' },
  sqlTool: { envVar: 'TEMPORAL_SQL_TOOL_BIN', pkg: 'go.temporal.io/server/cmd/tools/sql', file: 'sql' },
} as const satisfies Record<string, BinarySpec>;

export interface TemporalServerBinaries {
  /** `server --root DIR --config config --env NAME start`. */
  server: string;
  /** The SQL schema tool (`temporal-sql-tool` in the admin-tools image). */
  sqlTool: string;
}

/** Where the built binaries are cached: beside the Temporal CLI. */
export function cachedServerBinaries(env: NodeJS.ProcessEnv = process.env): TemporalServerBinaries {
  const dir = dirname(cachedCliPath(env));
  return { server: join(dir, SPECS.server.file), sqlTool: join(dir, SPECS.sqlTool.file) };
}

export class TemporalServerUnavailableError extends Error {
  constructor(detail: string) {
    const v = TEMPORAL_SERVER_VERSION;
    super(
      `The Temporal server ${v} binaries are not available (${detail}). Ways out:\n` +
        `  - set TEMPORAL_SERVER_BIN and TEMPORAL_SQL_TOOL_BIN to existing binaries of server ${v} ` +
        `(\`temporal-server\` and \`temporal-sql-tool\` in the temporalio/server and temporalio/admin-tools images);\n` +
        `  - install Go (https://go.dev/dl) so they can be built into ${dirname(cachedServerBinaries().server)}: ` +
        `go install -ldflags='-s -w' ${SPECS.server.pkg}@v${v} ${SPECS.sqlTool.pkg}@v${v};\n` +
        `  - or run the dev-server tier alone: DLQ_TEST_TIERS=dev npm test (CI runs both tiers).`,
    );
    this.name = 'TemporalServerUnavailableError';
  }
}

/** Resolves each binary without building: undefined for the ones that need a build. */
export function findTemporalServer(env: NodeJS.ProcessEnv = process.env): Partial<TemporalServerBinaries> {
  const cached = cachedServerBinaries(env);
  const found: Partial<TemporalServerBinaries> = {};
  for (const key of ['server', 'sqlTool'] as const) {
    const override = env[SPECS[key].envVar];
    if (override) {
      if (!existsSync(override))
        throw new TemporalServerUnavailableError(`${SPECS[key].envVar}=${override} does not exist`);
      found[key] = override;
    } else if (existsSync(cached[key])) found[key] = cached[key];
  }
  return found;
}

/** Resolves both binaries, building the missing ones with Go into the cache (minutes the first time). */
export async function ensureTemporalServer(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<TemporalServerBinaries> {
  const found = findTemporalServer(env);
  const missing = (['server', 'sqlTool'] as const).filter((k) => !found[k]);
  if (missing.length === 0) return found as TemporalServerBinaries;
  const go = findGo(env);
  if (!go) throw new TemporalServerUnavailableError('no binary found and no Go toolchain');
  const cached = cachedServerBinaries(env);
  const binDir = dirname(cached.server);
  mkdirSync(binDir, { recursive: true });
  const pkgs = missing.map((k) => `${SPECS[k].pkg}@v${TEMPORAL_SERVER_VERSION}`);
  log(
    `Building Temporal server ${TEMPORAL_SERVER_VERSION} (${missing.map((k) => SPECS[k].file).join(' and ')}) with Go into ${binDir}. ` +
      `The first build takes 8-16 minutes on 2 cores; it is cached afterwards (beside the CLI ${TEMPORAL_CLI_VERSION}).`,
  );
  const started = Date.now();
  // -s -w: no symbol table or DWARF, about 130 MB instead of 185 MB for the two.
  await goInstall({
    go,
    args: ['-ldflags=-s -w', ...pkgs],
    binDir,
    env,
    log,
    everyMs: 30_000,
    built: () => missing.every((k) => existsSync(cached[k])),
    failure: (detail) => new TemporalServerUnavailableError(detail),
  });
  log(`Temporal server binaries built in ${Math.round((Date.now() - started) / 1000)}s: ${binDir}`);
  return { server: found.server ?? cached.server, sqlTool: found.sqlTool ?? cached.sqlTool };
}
