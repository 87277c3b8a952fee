/**
 * Payload encryption: an AES-256-GCM `PayloadCodec` with a key ring. Every encrypted payload names its key
 * id in its metadata, so keys rotate: the first key of the ring encrypts, every key in it still decrypts.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

/** `metadata.encoding` of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key that names the key an encrypted payload was sealed with. */
export const KEY_ID_METADATA = 'encryption-key-id';
/** Metadata key that names the cipher, so another one can be added later. */
export const CIPHER_METADATA = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** One named 256-bit key. */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** A key problem: names the entry and what is wrong with it (never the key itself). */
export class EncryptionKeyError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid encryption keys:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EncryptionKeyError';
  }
}

/** A payload that cannot be decrypted: unknown key id, wrong key, or tampered bytes. */
export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionError';
  }
}

/**
 * Parses `id1:base64key,id2:base64key` (commas or newlines; `#` starts a comment). The first entry is the
 * active key. Each key must be 32 bytes (`openssl rand -base64 32`). Throws `EncryptionKeyError`.
 */
export function parseKeyRing(spec: string): EncryptionKey[] {
  const problems: string[] = [];
  const keys: EncryptionKey[] = [];
  const entries = spec
    .split(/[,\n]/)
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon).trim() : '';
    const material = colon > 0 ? entry.slice(colon + 1).trim() : '';
    const where = `entry ${index + 1}${id ? ` ("${id}")` : ''}`;
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(`${where}: must be <id>:<base64 key> with an id of 1-64 characters of A-Z a-z 0-9 . _ -`);
      return;
    }
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(material) ? Buffer.from(material, 'base64') : undefined;
    if (!key || key.length !== 32) {
      problems.push(`${where}: the key must be 32 bytes in base64 (openssl rand -base64 32)`);
      return;
    }
    if (keys.some((k) => k.id === id)) {
      problems.push(`${where}: the id is used twice`);
      return;
    }
    keys.push({ id, key });
  });
  if (entries.length === 0) problems.push('no key given');
  if (problems.length) throw new EncryptionKeyError(problems);
  return keys;
}

const text = (value: string) => new TextEncoder().encode(value);
const fromBytes = (value: Uint8Array | null | undefined) =>
  value ? Buffer.from(value).toString('utf8') : undefined;

/** AES-256-GCM codec. Payloads that are not encrypted pass through `decode` unchanged (data from before encryption was on). */
export class AesGcmCodec implements PayloadCodec {
  private readonly active: EncryptionKey;
  private readonly byId: ReadonlyMap<string, Buffer>;

  constructor(keys: readonly EncryptionKey[]) {
    const [active] = keys;
    if (!active) throw new EncryptionKeyError(['no key given']);
    this.active = active;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** Id of the key new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.active.id;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve().then(() => payloads.map((p) => this.encrypt(p)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve().then(() => payloads.map((p) => this.decrypt(p)));
  }

  private encrypt(payload: Payload): Payload {
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    cipher.setAAD(Buffer.from(this.active.id, 'utf8'));
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: text(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: text(this.active.id),
        [CIPHER_METADATA]: text(CIPHER),
      },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    if (fromBytes(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
    const keyId = fromBytes(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const key = this.byId.get(keyId);
    if (!key) {
      throw new DecryptionError(
        `Payload encrypted with key "${keyId}", which is not in the key ring; add it to DLQ_ENCRYPTION_KEYS (old keys stay listed after a rotation)`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('Encrypted payload is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      throw new DecryptionError(
        `Payload encrypted with key "${keyId}" failed authentication (wrong key or tampered)`,
      );
    }
  }
}
