/**
 * Configuration: the one place that reads the environment. Every value is validated with zod, and a
 * bad value stops start-up with a message that names the variable and says what is allowed.
 */
import { z } from 'zod';
import { ANALYTICS_SCHEDULE_ID, DEFAULT_TASK_QUEUE } from './contract/names';
import { DURATION_HINT, parseDuration } from './contract/duration';
import { MAX_PAYLOAD_BYTES_LIMIT } from './contract/limits';
import { TRACING_MODES } from './contract/tracing';
import { ProfileError, readTemporalProfile } from './temporal-profile';
import type { ProfileVariable, TemporalProfile } from './temporal-profile';

/** A sink's delivery budget becomes an activity timeout: from 1 s to 30 days. */
const sinkBudgetInRange = (ms: number) => ms >= 1000 && ms <= 30 * 24 * 3_600_000;
const SINK_BUDGET_RANGE = { message: 'must be from 1s to 30d' };

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be ${DURATION_HINT}` });
        return z.NEVER;
      }
      return ms;
    });

/** Default of `DLQ_MAX_CACHED_WORKFLOWS` (the bench uses it too). */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 250;

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const n = Number(text);
      if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const boolean = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const port = (fallback: number) => integer(fallback, 1, 65535);

/** `<IPv4>:<port>` or `[<IPv6>]:<port>`: the SDK's exporter binds a socket address, not a host name. */
function isMetricsAddress(text: string): boolean {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/.exec(text.trim());
  if (!m) return false;
  if (m[1] && m[1].split('.').some((octet) => Number(octet) > 255)) return false;
  if (m[2] && !m[2].includes(':')) return false;
  const portNumber = Number(m[3]);
  return portNumber >= 1 && portNumber <= 65535;
}

/**
 * Every environment variable the project reads, with its default. The README's configuration table
 * and docker-compose.yml are checked against these names by a test.
 */
export const envSchema = z.object({
  /**
   * TOML file of Temporal client profiles, as the Temporal CLI and SDKs read it (`@temporalio/envconfig`).
   * @defaultValue `$XDG_CONFIG_HOME/temporalio/temporal.toml`, else `~/.config/temporalio/temporal.toml`
   */
  TEMPORAL_CONFIG_FILE: optionalText,
  /** Profile of that file to use (`dlq --profile` wins). A variable that is set wins over the profile. @defaultValue `default` */
  TEMPORAL_PROFILE: optionalText,
  /** Temporal frontend `host:port`. @defaultValue `127.0.0.1:7233` */
  TEMPORAL_ADDRESS: z
    .string()
    .default('127.0.0.1:7233')
    .refine((v) => /^[^\s:/]+:\d{1,5}$/.test(v), { message: 'must be host:port, e.g. 127.0.0.1:7233' }),
  /** Temporal namespace. @defaultValue `default` */
  TEMPORAL_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be a namespace name')
    .default('default'),
  /** Task queue of the message and analytics workflows. @defaultValue `dlq-messages` */
  TEMPORAL_TASK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,200}$/, 'must be a task-queue name')
    .default(DEFAULT_TASK_QUEUE),
  /** Client certificate (PEM file) for mTLS. Needs TEMPORAL_TLS_KEY. */
  TEMPORAL_TLS_CERT: optionalText,
  /** Client private key (PEM file) for mTLS. Needs TEMPORAL_TLS_CERT. */
  TEMPORAL_TLS_KEY: optionalText,
  /** CA bundle (PEM file) that signed the server's certificate. */
  TEMPORAL_TLS_CA: optionalText,
  /** Server name to verify when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  /** Use TLS without client certificates (implied by the cert, CA or API key). @defaultValue `false` */
  TEMPORAL_TLS: boolean(false),
  /** API key for Temporal Cloud; implies TLS. */
  TEMPORAL_API_KEY: optionalText,
  /** Temporal's standard name of TEMPORAL_TLS_CERT (set one of the two). */
  TEMPORAL_TLS_CLIENT_CERT_PATH: optionalText,
  /** Temporal's standard name of TEMPORAL_TLS_KEY (set one of the two). */
  TEMPORAL_TLS_CLIENT_KEY_PATH: optionalText,
  /** Temporal's standard name of TEMPORAL_TLS_CA (set one of the two). */
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: optionalText,
  /** Client certificate as PEM text, instead of a file. */
  TEMPORAL_TLS_CLIENT_CERT_DATA: optionalText,
  /** Client private key as PEM text, instead of a file. */
  TEMPORAL_TLS_CLIENT_KEY_DATA: optionalText,
  /** CA bundle as PEM text, instead of a file. */
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: optionalText,
  /** pino level. @defaultValue `info` */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json`, `pretty`, or `auto` (pretty on a TTY). @defaultValue `auto` */
  LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  /** Extra pino redact paths, comma-separated, for personal data in headers or errors. */
  LOG_REDACT: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    ),
  /** Largest payload accepted at publish and repair, in UTF-8 bytes of its JSON, at most 524288 (see `src/contract/limits.ts`). @defaultValue `262144` (256 KiB) */
  DLQ_MAX_PAYLOAD_BYTES: integer(256 * 1024, 1, MAX_PAYLOAD_BYTES_LIMIT),
  /** Retention of closed workflows set on the namespace at set-up; duplicates are caught within it. @defaultValue `30d` */
  DLQ_RETENTION: duration('30d'),
  /** A parked message expires after this long with status `expired`. @defaultValue `14d` */
  DLQ_EXPIRE_AFTER: duration('14d'),
  /** Repair cycles (retries and re-drives) after which a message stays parked until discarded. @defaultValue `20` */
  DLQ_MAX_REPAIR_CYCLES: integer(20, 1, 10_000),
  /**
   * Workflows kept in the worker's cache. Each costs about 0.3 MiB of worker memory, as much as a bare Temporal
   * workflow. Parked workflows are idle for hours: beyond the bound they are evicted (least recently used
   * first) and replayed when an operator acts. Messages in flight need a slot between their workflow tasks;
   * a burst larger than the cache costs replays (see docs/performance.md). @defaultValue `250`
   */
  DLQ_MAX_CACHED_WORKFLOWS: integer(DEFAULT_MAX_CACHED_WORKFLOWS, 0, 100_000),
  /** Port of the dev server `npm start` runs. @defaultValue `7233` */
  DLQ_DEV_SERVER_PORT: port(7233),
  /** Port of the dev server's Web UI. @defaultValue `8233` */
  DLQ_UI_PORT: port(8233),
  /** Base URL of the Temporal Web UI, used for links printed by the CLI. @defaultValue `http://localhost:<DLQ_UI_PORT>` */
  DLQ_UI_URL: optionalText.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: 'must be an http(s) URL, e.g. http://localhost:8233',
  }),
  /** Where `npm start` keeps the dev server's SQLite database. @defaultValue `.data` */
  DLQ_DATA_DIR: z.string().min(1).default('.data'),
  /**
   * Module whose `handlers` export (an array of `defineHandler` results) the standalone worker
   * (`npm run worker`, the Docker image) registers. @defaultValue the built-in demo handlers
   */
  DLQ_HANDLERS_MODULE: optionalText,
  /** Create or update the analytics schedule at start-up (`npm start`, `npm run worker`). @defaultValue `true` */
  DLQ_ANALYTICS: boolean(true),
  /** Id of the analytics schedule, for start-up and `dlq stats` / `dlq config`. @defaultValue `dlq-analytics` */
  DLQ_ANALYTICS_SCHEDULE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,200}$/, 'must be 1-200 characters of A-Z a-z 0-9 . _ : -')
    .default(ANALYTICS_SCHEDULE_ID),
  /** Interval of the analytics schedule when start-up creates it (an existing one keeps its own). @defaultValue `5m` */
  DLQ_ANALYTICS_INTERVAL: duration('5m'),
  /** Webhook that receives alerts: a JSON POST with a Slack-compatible `text`. @defaultValue none (pino only) */
  DLQ_ALERT_WEBHOOK_URL: optionalText.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), {
    message: 'must be an http(s) URL, e.g. https://hooks.slack.com/services/…',
  }),
  /** HMAC-SHA256 key: each webhook body is signed in `X-DLQ-Signature: sha256=<hex>`. @defaultValue none (unsigned) */
  DLQ_ALERT_WEBHOOK_SECRET: optionalText,
  /** Timeout of one webhook request; Temporal retries a failed one. @defaultValue `10s` */
  DLQ_ALERT_WEBHOOK_TIMEOUT: duration('10s'),
  /**
   * Serve Prometheus metrics (the SDK's worker metrics and the DLQ metrics) at `http://<address>/metrics`: an
   * IP address and port, e.g. `127.0.0.1:9464` or `[::1]:9464` (`0.0.0.0:9464` for every interface).
   * `npm start` turns it on at `127.0.0.1:9464`. @defaultValue off (standalone worker and `createWorker`)
   */
  DLQ_METRICS_ADDRESS: optionalText.refine((v) => v === undefined || isMetricsAddress(v), {
    message:
      'must be an IP address and a port from 1 to 65535, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464',
  }),
  /**
   * OpenTelemetry tracing: `on` gives `connectClient`'s clients the OpenTelemetry client interceptor (so
   * `publish` continues an upstream `traceparent` and records the trace id) and `createWorker` a span per
   * stage attempt. Spans go to the TracerProvider the application registers. @defaultValue `off`
   */
  DLQ_TRACING: z.enum(TRACING_MODES, { error: `must be one of ${TRACING_MODES.join(', ')}` }).default('off'),
  /**
   * Mirror dead letters to NATS JetStream: the servers, comma-separated (`nats://host:4222,…`). Events go to
   * `<DLQ_SINK_NATS_SUBJECT_PREFIX><original subject>`. @defaultValue none (no NATS sink)
   */
  DLQ_SINK_NATS_SERVERS: optionalText
    .refine(
      (v) =>
        v === undefined ||
        v.split(',').every((s) => /^(nats|tls|wss?):\/\/[^\s,]+$|^[^\s,:/]+:\d+$/.test(s.trim())),
      {
        message: 'must be NATS server URLs, comma-separated, e.g. nats://127.0.0.1:4222',
      },
    )
    .transform((v) => v?.split(',').map((s) => s.trim())),
  /** Prefix of the NATS sink's subjects (tokens of A-Z a-z 0-9 _ -, ending with `.`). @defaultValue `DLQ.` */
  DLQ_SINK_NATS_SUBJECT_PREFIX: z
    .string()
    .regex(
      /^([A-Za-z0-9_-]+\.)+$/,
      'must be subject tokens of A-Z a-z 0-9 _ - each followed by ".", e.g. DLQ.',
    )
    .default('DLQ.'),
  /** The JetStream stream of the NATS sink, created over `<prefix>>` when missing. @defaultValue `DLQ` */
  DLQ_SINK_NATS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -')
    .default('DLQ'),
  /** Mirror dead letters to a PostgreSQL table: its connection string. @defaultValue none (no PostgreSQL sink) */
  DLQ_SINK_POSTGRES_URL: optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\/\S+$/.test(v), {
    message: 'must be a postgres:// connection string, e.g. postgres://postgres@127.0.0.1:5432/app',
  }),
  /** The dead-letter table (`[schema.]name`, lowercase), created when missing. @defaultValue `dead_letters` */
  DLQ_SINK_POSTGRES_TABLE: z
    .string()
    .regex(
      /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/,
      'must be [schema.]name of lowercase letters, digits and _, e.g. dead_letters',
    )
    .default('dead_letters'),
  /** Put the message's payload into the sinks' events (it leaves Temporal's encryption). @defaultValue `false` */
  DLQ_SINK_PAYLOADS: boolean(false),
  /** How long a park event or immediate alert is retried before it counts as undelivered. @defaultValue `24h` */
  DLQ_SINK_PARK_BUDGET: duration('24h').refine(sinkBudgetInRange, SINK_BUDGET_RANGE),
  /** How long a resolved message waits for its resolution events before it completes. @defaultValue `10m` */
  DLQ_SINK_RESOLUTION_BUDGET: duration('10m').refine(sinkBudgetInRange, SINK_BUDGET_RANGE),
  /** Publish the demo batch at `npm start`. @defaultValue `true` */
  DLQ_DEMO: boolean(true),
  /**
   * Turns payload encryption (AES-256-GCM) on: `id:base64key` entries, comma-separated; the first encrypts,
   * all decrypt (rotation). Checked by `dataConverterFromConfig`, which never echoes the keys. @defaultValue off
   */
  DLQ_ENCRYPTION_KEYS: optionalText,
  /** File holding the same `id:base64key` entries (one per line, `#` comments); instead of DLQ_ENCRYPTION_KEYS. */
  DLQ_ENCRYPTION_KEYS_FILE: optionalText,
  /** Port of the codec server (`npm run codec-server`, and `npm start` with encryption on). @defaultValue `8888` */
  DLQ_CODEC_PORT: port(8888),
  /** Bearer token the codec server requires, when set. @defaultValue none (bound to 127.0.0.1 only) */
  DLQ_CODEC_TOKEN: optionalText,
  /** Browser origins allowed to call the codec server, comma-separated. @defaultValue the Web UI's origin */
  DLQ_CODEC_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim().replace(/\/+$/, ''))
        .filter(Boolean),
    ),
});

export type Config = z.output<typeof envSchema>;

/** A configuration problem: names each bad variable and what it allows. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Temporal's standard variable names that mean the same as the project's older ones. */
const STANDARD_ALIASES = [
  ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CLIENT_CERT_PATH'],
  ['TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CLIENT_KEY_PATH'],
  ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'],
] as const;

/** A PEM is given as a file or as text: whichever the variables set, the profile's is not used for that PEM. */
const PEM_SLOTS: ReadonlyArray<readonly ProfileVariable[]> = [
  ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CLIENT_CERT_DATA'],
  ['TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA'],
  ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'],
];

/** Values never echoed in an error message. */
const SECRET_VARIABLES = new Set(['TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA']);

/** Options of `loadConfig`. */
export interface LoadConfigOptions {
  /** Temporal client profile to read (what `dlq --profile` sets). @defaultValue `TEMPORAL_PROFILE`, else `default` */
  profile?: string;
}

/**
 * Reads and validates the configuration. Throws `ConfigError` listing every bad variable.
 *
 * Connection settings come, highest first, from: the variables (`TEMPORAL_*`), the selected profile of the
 * Temporal config file (see ./temporal-profile.ts), the defaults below.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Config {
  const relevant: Record<string, string | undefined> = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const problems: string[] = [];
  for (const [older, standard] of STANDARD_ALIASES) {
    if (
      relevant[older] !== undefined &&
      relevant[standard] !== undefined &&
      relevant[older] !== relevant[standard]
    )
      problems.push(`${older} and ${standard} name the same file: set one of them`);
    relevant[older] ??= relevant[standard];
  }
  if (options.profile !== undefined) relevant.TEMPORAL_PROFILE = options.profile;
  let profile: TemporalProfile | undefined;
  try {
    profile = readTemporalProfile(env, options.profile);
  } catch (err) {
    if (!(err instanceof ProfileError)) throw err;
    problems.push(err.message);
  }
  const fromProfile = new Set<string>();
  if (profile) {
    const takeOver = (name: ProfileVariable) => {
      const value = profile.values[name];
      if (value === undefined || relevant[name] !== undefined) return;
      relevant[name] = value;
      fromProfile.add(name);
    };
    for (const slot of PEM_SLOTS)
      if (slot.every((name) => relevant[name] === undefined)) slot.forEach(takeOver);
    for (const name of Object.keys(profile.values) as ProfileVariable[])
      if (!PEM_SLOTS.some((slot) => slot.includes(name))) takeOver(name);
  }
  const shown = (name: string) =>
    SECRET_VARIABLES.has(name) ? '(hidden)' : JSON.stringify(relevant[name] ?? '');
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    problems.push(
      ...parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '(environment)');
        const origin =
          profile && fromProfile.has(name)
            ? ` (key ${profile.keys[name as ProfileVariable]} of profile "${profile.profile}" in ${profile.file})`
            : '';
        return `${name}=${shown(name)}${origin}: ${i.message}`;
      }),
    );
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const config = parsed.data;
  for (const [path, data] of PEM_SLOTS)
    if (config[path as keyof Config] !== undefined && config[data as keyof Config] !== undefined)
      throw new ConfigError([`${path} and ${data}: give the PEM as a file or as text, not both`]);
  const hasCert = Boolean(config.TEMPORAL_TLS_CERT ?? config.TEMPORAL_TLS_CLIENT_CERT_DATA);
  const hasKey = Boolean(config.TEMPORAL_TLS_KEY ?? config.TEMPORAL_TLS_CLIENT_KEY_DATA);
  if (hasCert !== hasKey) {
    throw new ConfigError(['TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both for mTLS, or neither']);
  }
  return config;
}

/** Every environment variable name the config module reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
