/**
 * The one data converter shared by the client, the worker, the CLI and the codec server. Encryption is off
 * unless DLQ_ENCRYPTION_KEYS or DLQ_ENCRYPTION_KEYS_FILE is set. Memoised per key configuration.
 */
import { readFileSync } from 'node:fs';
import type { DataConverter } from '@temporalio/common';
import { ConfigError } from '../config';
import type { Config } from '../config';
import { AesGcmCodec, EncryptionKeyError, parseKeyRing } from './encryption';

/** The config fields encryption reads. */
export type EncryptionConfig = Partial<Pick<Config, 'DLQ_ENCRYPTION_KEYS' | 'DLQ_ENCRYPTION_KEYS_FILE'>>;

const cache = new Map<string, { codec: AesGcmCodec | undefined; converter: DataConverter }>();

function keySpec(config: EncryptionConfig): { spec: string; variable: string } | undefined {
  if (config.DLQ_ENCRYPTION_KEYS && config.DLQ_ENCRYPTION_KEYS_FILE)
    throw new ConfigError(['DLQ_ENCRYPTION_KEYS and DLQ_ENCRYPTION_KEYS_FILE: set one of them, not both']);
  if (config.DLQ_ENCRYPTION_KEYS)
    return { spec: config.DLQ_ENCRYPTION_KEYS, variable: 'DLQ_ENCRYPTION_KEYS' };
  const path = config.DLQ_ENCRYPTION_KEYS_FILE;
  if (!path) return undefined;
  try {
    return { spec: readFileSync(path, 'utf8'), variable: `DLQ_ENCRYPTION_KEYS_FILE (${path})` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([`DLQ_ENCRYPTION_KEYS_FILE=${path}: cannot read the file (${code})`]);
  }
}

function resolve(config: EncryptionConfig): { codec: AesGcmCodec | undefined; converter: DataConverter } {
  const memoKey = `${config.DLQ_ENCRYPTION_KEYS ?? ''}\u0000${config.DLQ_ENCRYPTION_KEYS_FILE ?? ''}`;
  const hit = cache.get(memoKey);
  if (hit) return hit;
  const source = keySpec(config);
  let codec: AesGcmCodec | undefined;
  if (source) {
    try {
      codec = new AesGcmCodec(parseKeyRing(source.spec));
    } catch (err) {
      // The problems name entries and ids, never key material.
      if (err instanceof EncryptionKeyError)
        throw new ConfigError(err.problems.map((p) => `${source.variable}: ${p}`));
      throw err;
    }
  }
  const converter: DataConverter = codec
    ? // Activity failure messages and stacks are encrypted along with payloads (see docs/security.md for the
      // failures the workflows raise themselves). Resolved only when encryption is on.
      { payloadCodecs: [codec], failureConverterPath: require.resolve('./encrypted-failure-converter') }
    : {};
  const entry = { codec, converter };
  cache.set(memoKey, entry);
  return entry;
}

/**
 * The shared data converter: `{ payloadCodecs: [AES-256-GCM], failureConverterPath }` with encryption on
 * (failure messages and stacks encrypted too), `{}` (Temporal's default) with it off. The same object is returned for the same configuration. Throws `ConfigError`.
 */
export function dataConverterFromConfig(config: EncryptionConfig): DataConverter {
  return resolve(config).converter;
}

/** The encryption codec, or undefined when encryption is off. Throws `ConfigError`. */
export function codecFromConfig(config: EncryptionConfig): AesGcmCodec | undefined {
  return resolve(config).codec;
}

/** True when the configuration turns payload encryption on. */
export function encryptionEnabled(config: EncryptionConfig): boolean {
  return Boolean(config.DLQ_ENCRYPTION_KEYS || config.DLQ_ENCRYPTION_KEYS_FILE);
}
