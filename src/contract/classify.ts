/**
 * `classifyError`: a total function from anything thrown to an error class and reason code.
 * It reads types, names, status codes and error codes, never message text. Workflow-safe.
 */
import { DlqError, ERROR_CLASSES, errorClassOfType, FAILURE_TYPE_BY_CLASS } from './errors';
import type { ErrorClass, FailureType } from './errors';

/** What `classifyError` decides about a thrown value. */
export interface Classification {
  errorClass: ErrorClass;
  /** The `ApplicationFailure.type` for this class. */
  type: FailureType;
  /** Reason code, e.g. `HTTP_503`, `ECONNRESET`, `VALIDATION_ERROR`, `UNKNOWN`. */
  reason: string;
  message: string;
  /** Name of the thrown error, or its JS type when it was not an Error. */
  name: string;
  stack?: string;
  /** Backoff override for the next attempt, from `Retry-After` or the error itself. */
  nextRetryDelayMs?: number;
  /** JSON-safe extra details, such as zod issues. */
  details?: unknown;
}

/** Node and undici error codes that mean "the network hiccuped; try again". */
export const TEMPORARY_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'ABORT_ERR',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const MAX_STACK = 8_000;
const MAX_MESSAGE = 2_000;

/** Reads a property without ever throwing (getters, proxies and revoked objects included). */
function prop(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function describe(value: unknown): string {
  try {
    if (typeof value === 'string') return value;
    if (value === undefined) return 'undefined was thrown';
    if (value === null) return 'null was thrown';
    if (typeof value === 'object') {
      const message = str(prop(value, 'message'));
      if (message) return message;
      try {
        return JSON.stringify(value) ?? Object.prototype.toString.call(value);
      } catch {
        return Object.prototype.toString.call(value); // circular or hostile
      }
    }
    if (typeof value === 'symbol') return value.toString();
    if (typeof value === 'function') return `a function (${value.name || 'anonymous'}) was thrown`;
    return `${value as number | boolean | bigint}`;
  } catch {
    return 'an unprintable value was thrown';
  }
}

function httpStatus(err: unknown): number | undefined {
  for (const candidate of [
    prop(err, 'status'),
    prop(err, 'statusCode'),
    prop(prop(err, 'response'), 'status'),
    prop(prop(err, 'response'), 'statusCode'),
  ]) {
    const n = typeof candidate === 'string' ? Number(candidate) : candidate;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 599) return n;
  }
  return undefined;
}

function headerValue(headers: unknown, name: string): string | undefined {
  const getter = prop(headers, 'get');
  if (typeof getter === 'function') {
    try {
      return str((getter as (n: string) => unknown).call(headers, name));
    } catch {
      return undefined;
    }
  }
  const direct = prop(headers, name) ?? prop(headers, name.toLowerCase());
  return str(direct) ?? (typeof direct === 'number' ? String(direct) : undefined);
}

/**
 * Parses an HTTP `Retry-After` value (seconds or an HTTP date) into milliseconds.
 * `nowMs` is injectable so workflow code and tests stay deterministic.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function retryAfterOf(err: unknown): number | undefined {
  const headers = prop(err, 'headers') ?? prop(prop(err, 'response'), 'headers');
  return parseRetryAfter(headerValue(headers, 'retry-after'));
}

function classOfHttp(status: number): { errorClass: ErrorClass; reason: string } {
  if (status === 401 || status === 403) return { errorClass: 'security', reason: `HTTP_${status}` };
  if (status === 400 || status === 422) return { errorClass: 'validation', reason: `HTTP_${status}` };
  if (status === 408 || status === 429 || status >= 500)
    return { errorClass: 'temporary', reason: `HTTP_${status}` };
  if (status >= 400) return { errorClass: 'permanent', reason: `HTTP_${status}` };
  return { errorClass: 'temporary', reason: `HTTP_${status}` };
}

/** `instanceof` that never throws: a Proxy's getPrototypeOf trap (or a revoked Proxy) may. */
function isDlqError(err: unknown): err is DlqError {
  try {
    return err instanceof DlqError;
  } catch {
    return false;
  }
}

function isZodError(err: unknown): boolean {
  return prop(err, 'name') === 'ZodError' && Array.isArray(prop(err, 'issues'));
}

function jsonSafe(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return undefined;
  }
}

/** Classifies anything thrown. Never throws. Unknown failures are `temporary` (seed 003's grey zone). */
export function classifyError(err: unknown): Classification {
  const name = str(prop(err, 'name')) ?? (err === null ? 'null' : typeof err);
  const message = describe(err).slice(0, MAX_MESSAGE);
  const stackValue = str(prop(err, 'stack'));
  const base = { name, message, ...(stackValue ? { stack: stackValue.slice(0, MAX_STACK) } : {}) };
  const make = (
    errorClass: ErrorClass,
    reason: string,
    extra: Partial<Pick<Classification, 'nextRetryDelayMs' | 'details'>> = {},
  ): Classification => ({
    ...base,
    errorClass,
    type: FAILURE_TYPE_BY_CLASS[errorClass],
    reason,
    ...extra,
  });

  // 1. Our own catalogue, recognised by class, by name (crossed a process boundary), or by failure type.
  const catalogued = isDlqError(err)
    ? err.errorClass
    : (errorClassOfType(name) ??
      errorClassOfType(str(prop(err, 'type'))) ??
      (ERROR_CLASSES as readonly string[]).find((c) => c === prop(err, 'errorClass')));
  if (catalogued) {
    const reason = str(prop(err, 'reason')) ?? DEFAULT_REASON[catalogued as ErrorClass];
    const retryAfter = prop(err, 'retryAfterMs');
    return make(catalogued as ErrorClass, reason, {
      ...(typeof retryAfter === 'number' && retryAfter >= 0 ? { nextRetryDelayMs: retryAfter } : {}),
      ...(prop(err, 'details') !== undefined ? { details: jsonSafe(prop(err, 'details')) } : {}),
    });
  }

  // 2. zod validation errors.
  if (isZodError(err))
    return make('validation', 'VALIDATION_ERROR', { details: jsonSafe(prop(err, 'issues')) });

  // 3. Aborts and timeouts (AbortSignal.timeout throws a DOMException named TimeoutError).
  const code = str(prop(err, 'code'));
  if (name === 'AbortError') return make('timeout', 'ABORTED');
  if (name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code))) return make('timeout', 'TIMEOUT');

  // 4. HTTP status codes.
  const status = httpStatus(err);
  if (status !== undefined) {
    const { errorClass, reason } = classOfHttp(status);
    const delay = status === 429 || status === 503 ? retryAfterOf(err) : undefined;
    return make(errorClass, reason, delay === undefined ? {} : { nextRetryDelayMs: delay });
  }

  // 5. Network error codes, also when wrapped as `cause` (fetch wraps them so).
  const causeCode = str(prop(prop(err, 'cause'), 'code'));
  for (const c of [code, causeCode]) {
    if (c && TEMPORARY_NETWORK_CODES.has(c)) return make('temporary', c);
    if (c && TIMEOUT_CODES.has(c)) return make('timeout', 'TIMEOUT');
  }

  // 6. Everything else is retried until the budget is spent.
  return make('temporary', 'UNKNOWN');
}

/** Reason code used when a catalogue error carries none. */
export const DEFAULT_REASON: Record<ErrorClass, string> = {
  temporary: 'UNKNOWN',
  permanent: 'PERMANENT_ERROR',
  validation: 'VALIDATION_ERROR',
  timeout: 'TIMEOUT',
  security: 'SECURITY_ERROR',
};
