/**
 * Codec server for the Temporal Web UI and CLI: `POST /encode` and `POST /decode` with body
 * `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`, CORS for the UI's origin, and an optional
 * bearer token. `npm run codec-server` runs it on DLQ_CODEC_PORT; `npm start` runs it in-process when
 * encryption is on. It never logs payloads.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import type { Logger as PinoLogger } from 'pino';
import { ConfigError, loadConfig } from '../config';
import type { Config } from '../config';
import { codecFromConfig } from './data-converter';

/** Options of `startCodecServer`. */
export interface CodecServerOptions {
  /** The codec the server applies (the same as the workers'). */
  codec: PayloadCodec;
  /** Port; 0 for a free one. @defaultValue `8888` */
  port?: number;
  /** Interface to bind. @defaultValue `127.0.0.1` */
  host?: string;
  /** When set, every request needs `Authorization: Bearer <token>`. @defaultValue none */
  token?: string;
  /** Browser origins allowed by CORS (exact match). @defaultValue `[]` (no browser access) */
  allowedOrigins?: readonly string[];
  /** Largest request body accepted, in bytes. @defaultValue `16 MiB` */
  maxBodyBytes?: number;
  logger?: PinoLogger;
}

/** A running codec server. */
export interface CodecServer {
  /** e.g. `http://127.0.0.1:8888`: give it to `--ui-codec-endpoint` or the UI's codec settings. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const bodySchema = z.strictObject({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), z.string()).optional(),
      data: z.string().optional(),
    }),
  ),
});

const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `request body over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '', 'utf8');
  const wanted = Buffer.from(`Bearer ${token}`, 'utf8');
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Starts the codec server and resolves once it listens. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const origins = new Set(options.allowedOrigins ?? []);
  const limit = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const { codec, token, logger } = options;

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) {
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!origins.has(origin))
        throw new HttpError(403, `origin ${origin} is not allowed (DLQ_CODEC_CORS_ORIGINS)`);
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'origin');
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', '600');
      send(res, 204);
      return;
    }
    if (path !== '/encode' && path !== '/decode')
      throw new HttpError(404, 'use POST /encode or POST /decode');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'missing or wrong bearer token');
    }
    let json: unknown;
    try {
      json = JSON.parse(await readBody(req, limit));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'the body must be JSON: { "payloads": [...] }');
    }
    const parsed = bodySchema.safeParse(json);
    if (!parsed.success) throw new HttpError(400, 'the body must be { "payloads": [{ metadata, data }] }');
    const payloads = parsed.data.payloads.map((p) => JSONToPayload(p));
    const out = path === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    send(res, 200, { payloads: out.map((p) => payloadToJSON(p)) });
  };

  const server = createServer((req, res) => {
    handle(req, res).then(
      () => logger?.debug({ path: req.url, status: res.statusCode }, 'codec request'),
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : 400;
        const message =
          err instanceof HttpError
            ? err.message
            : `cannot ${req.url === '/encode' ? 'encode' : 'decode'}: ${err instanceof Error ? err.name : 'error'}`;
        logger?.warn({ path: req.url, status }, `codec request refused: ${message}`);
        if (!res.headersSent) send(res, status, { error: message });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8888, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** CORS origins from config: DLQ_CODEC_CORS_ORIGINS, else the Web UI's own origins. */
export function codecOrigins(
  config: Pick<Config, 'DLQ_CODEC_CORS_ORIGINS' | 'DLQ_UI_PORT' | 'DLQ_UI_URL'>,
): string[] {
  if (config.DLQ_CODEC_CORS_ORIGINS.length) return config.DLQ_CODEC_CORS_ORIGINS;
  const origins = [`http://localhost:${config.DLQ_UI_PORT}`, `http://127.0.0.1:${config.DLQ_UI_PORT}`];
  if (config.DLQ_UI_URL) origins.push(new URL(config.DLQ_UI_URL).origin);
  return [...new Set(origins)];
}

/** Starts the codec server from config. Throws `ConfigError` when encryption is off. */
export async function codecServerFromConfig(
  config: Config,
  overrides: Partial<CodecServerOptions> = {},
): Promise<CodecServer> {
  const codec = codecFromConfig(config);
  if (!codec)
    throw new ConfigError([
      'DLQ_ENCRYPTION_KEYS: the codec server needs encryption on (set DLQ_ENCRYPTION_KEYS or DLQ_ENCRYPTION_KEYS_FILE)',
    ]);
  return startCodecServer({
    codec,
    port: config.DLQ_CODEC_PORT,
    allowedOrigins: codecOrigins(config),
    ...(config.DLQ_CODEC_TOKEN ? { token: config.DLQ_CODEC_TOKEN } : {}),
    ...overrides,
  });
}

if (require.main === module) {
  (async () => {
    const config = loadConfig();
    const { createLogger } = await import('../logger');
    const logger = createLogger(config);
    const server = await codecServerFromConfig(config, { logger });
    logger.info(
      { url: server.url, origins: codecOrigins(config), token: Boolean(config.DLQ_CODEC_TOKEN) },
      'Codec server listening',
    );
    const stop = () => void server.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  })().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
}
