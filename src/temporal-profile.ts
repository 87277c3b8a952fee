/**
 * Temporal's standard client configuration (`@temporalio/envconfig`): the TOML profiles the Temporal CLI and the
 * other SDKs read. This module reads one profile from the file and answers it as values of the `TEMPORAL_*`
 * variables, so `loadConfig` validates them with the same schema and a variable that is set still wins.
 */
import { readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { loadClientConfigProfile } from '@temporalio/envconfig';
import type { ConfigDataSource } from '@temporalio/envconfig';
import { z } from 'zod';

/** The profile used when neither `--profile` nor `TEMPORAL_PROFILE` names one (as in the Temporal CLI). */
export const DEFAULT_PROFILE = 'default';

/**
 * Where the Temporal CLI and SDKs look for the file when `TEMPORAL_CONFIG_FILE` is unset:
 * `$XDG_CONFIG_HOME/temporalio/temporal.toml`, else `~/.config/temporalio/temporal.toml`
 * (`~/Library/Application Support/…` on macOS, `%APPDATA%\…` on Windows). Mirrors envconfig's own rule.
 */
export function defaultConfigFilePath(env: NodeJS.ProcessEnv): string | undefined {
  const os = platform();
  let dir: string | undefined;
  if (os === 'win32') dir = env.APPDATA;
  else if (os === 'darwin') dir = env.HOME && join(env.HOME, 'Library', 'Application Support');
  else if (env.XDG_CONFIG_HOME) dir = isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  else dir = env.HOME && join(env.HOME, '.config');
  return dir ? join(dir, 'temporalio', 'temporal.toml') : undefined;
}

/** The variables a profile can set, each with the TOML key it comes from (for error messages). */
export type ProfileVariable =
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_API_KEY'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_TLS_CERT'
  | 'TEMPORAL_TLS_KEY'
  | 'TEMPORAL_TLS_CA'
  | 'TEMPORAL_TLS_CLIENT_CERT_DATA'
  | 'TEMPORAL_TLS_CLIENT_KEY_DATA'
  | 'TEMPORAL_TLS_SERVER_CA_CERT_DATA';

/** One profile, read: the variables it sets, the TOML key of each, and where it came from. */
export interface TemporalProfile {
  file: string;
  profile: string;
  values: Partial<Record<ProfileVariable, string>>;
  keys: Partial<Record<ProfileVariable, string>>;
}

/** A problem with the profile file: names the file, the profile and the key. */
export class ProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const dataSource = z.union([
  z.strictObject({ path: z.string().min(1) }),
  z.strictObject({ data: z.union([z.string().min(1), z.instanceof(Uint8Array)]) }),
]);
/** What envconfig answers for a profile; its TOML parser does not check the types of the values. */
const profileSchema = z.strictObject({
  address: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  apiKey: z.string().min(1).optional(),
  tls: z
    .strictObject({
      disabled: z.boolean().optional(),
      serverName: z.string().min(1).optional(),
      clientCert: dataSource.optional(),
      clientKey: dataSource.optional(),
      serverCACert: dataSource.optional(),
    })
    .optional(),
  grpcMeta: z.record(z.string(), z.unknown()).optional(),
});
/** envconfig's camelCase names back to the TOML keys a user wrote. */
const TOML_KEYS: Record<string, string> = {
  apiKey: 'api_key',
  serverName: 'server_name',
  clientCert: 'client_cert_path / client_cert_data',
  clientKey: 'client_key_path / client_key_data',
  serverCACert: 'server_ca_cert_path / server_ca_cert_data',
  grpcMeta: 'grpc_meta',
};
const tomlKey = (path: PropertyKey[]) => path.map((p) => TOML_KEYS[String(p)] ?? String(p)).join('.');

function sourceValue(source: ConfigDataSource): string {
  if ('path' in source) return source.path;
  return typeof source.data === 'string' ? source.data : Buffer.from(source.data).toString('utf8');
}

/**
 * Reads the profile named by `profileName`, else `TEMPORAL_PROFILE`, else `default`, from `TEMPORAL_CONFIG_FILE`,
 * else the default path. Answers undefined when no file is there and no profile was asked for by name (as the
 * Temporal CLI does). Throws `ProfileError` naming the file, profile and key of any problem.
 */
export function readTemporalProfile(
  env: NodeJS.ProcessEnv,
  profileName?: string,
): TemporalProfile | undefined {
  const explicitFile = env.TEMPORAL_CONFIG_FILE?.trim() || undefined;
  const requested = profileName?.trim() || env.TEMPORAL_PROFILE?.trim() || undefined;
  const file =
    explicitFile ??
    defaultConfigFilePath({ ...env, HOME: env.HOME ?? (env === process.env ? homedir() : '') });
  const where = explicitFile ? `TEMPORAL_CONFIG_FILE=${file}` : `${file ?? 'the default config file'}`;
  let text: string | undefined;
  try {
    text = file ? readFileSync(file, 'utf8') : undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    if (code !== 'ENOENT' || explicitFile)
      throw new ProfileError(`${where}: cannot read the Temporal config file (${code})`);
  }
  if (text === undefined) {
    if (requested)
      throw new ProfileError(
        `profile "${requested}": there is no Temporal config file (${where}) to read it from`,
      );
    return undefined;
  }
  const profile = requested ?? DEFAULT_PROFILE;
  let raw: unknown;
  try {
    raw = loadClientConfigProfile({
      profile: requested,
      configSource: { data: text },
      // The variables are read by loadConfig (same names), so a variable that is set wins over the file.
      disableEnv: true,
      // Strict: a misspelt key in any profile is an error, not a setting silently dropped.
      configFileStrict: true,
      overrideEnvVars: {},
    });
  } catch (err) {
    // Only the first line: a TOML syntax error goes on to quote the offending source line, which may hold
    // an API key or a private key.
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    // A strict-validation message names its own profile and key (`profile.x: adress`), anywhere in the file.
    if (message.startsWith('Validation error')) throw new ProfileError(`${where}: ${message}`);
    throw new ProfileError(`${where}, profile "${profile}": ${message}`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ProfileError(
      `${where}, profile "${profile}", key ${tomlKey(issue.path)}: ${issue.code === 'unrecognized_keys' ? 'not supported' : issue.message}`,
    );
  }
  const p = parsed.data;
  if (p.grpcMeta && Object.keys(p.grpcMeta).length > 0)
    throw new ProfileError(`${where}, profile "${profile}", key grpc_meta: not supported by temporal-dlq`);
  const values: TemporalProfile['values'] = {};
  const keys: TemporalProfile['keys'] = {};
  const set = (name: ProfileVariable, key: string, value: string | undefined) => {
    if (value === undefined) return;
    values[name] = value;
    keys[name] = key;
  };
  set('TEMPORAL_ADDRESS', 'address', p.address);
  set('TEMPORAL_NAMESPACE', 'namespace', p.namespace);
  set('TEMPORAL_API_KEY', 'api_key', p.apiKey);
  if (p.tls) {
    const tls = p.tls;
    const certs = tls.clientCert ?? tls.clientKey ?? tls.serverCACert ?? p.apiKey;
    if (tls.disabled === true && certs !== undefined)
      throw new ProfileError(
        `${where}, profile "${profile}", key tls.disabled: TLS cannot be off with client certificates, a CA or an API key`,
      );
    // As in envconfig: a [tls] table turns TLS on unless it says disabled = true.
    set('TEMPORAL_TLS', 'tls.disabled', tls.disabled === true ? 'false' : 'true');
    set('TEMPORAL_TLS_SERVER_NAME', 'tls.server_name', tls.serverName);
    const pem = (
      source: ConfigDataSource | undefined,
      pathVar: ProfileVariable,
      dataVar: ProfileVariable,
      key: string,
    ) => {
      if (!source) return;
      if ('path' in source) set(pathVar, `tls.${key}_path`, sourceValue(source));
      else set(dataVar, `tls.${key}_data`, sourceValue(source));
    };
    pem(tls.clientCert, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CLIENT_CERT_DATA', 'client_cert');
    pem(tls.clientKey, 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA', 'client_key');
    pem(tls.serverCACert, 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA', 'server_ca_cert');
  }
  return { file: file!, profile, values, keys };
}
