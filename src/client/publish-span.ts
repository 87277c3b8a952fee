/**
 * The producer's side of tracing: `publish` on a traced client opens a `dlq.publish <topic>` span around the
 * workflow start, as a child of the upstream trace when the envelope's headers carry a W3C `traceparent`
 * (else of the active context), and records that trace's id as the envelope's `traceId`. The client
 * interceptor's `StartWorkflow` span is its child, so the workflow and every stage attempt join the trace.
 * OpenTelemetry is loaded only here, and only for a traced client.
 */
import type * as ApiModule from '@opentelemetry/api';
import type * as CoreModule from '@opentelemetry/core';
import type { Envelope } from '../contract/envelope';
import { PUBLISH_SPAN_PREFIX, W3C_TRACEPARENT_HEADER, W3C_TRACESTATE_HEADER } from '../contract/tracing';

/** A `traceId` the producer set that is not the id of the message's trace. */
export class TraceIdMismatch extends Error {
  constructor(
    readonly given: string,
    readonly traceId: string,
  ) {
    super(
      `traceId: is "${given}", but with tracing on it is the id of the message's trace ("${traceId}", from ` +
        `headers.traceparent, else the active span, else a new trace); omit traceId, or send the traceparent of that trace`,
    );
    this.name = 'TraceIdMismatch';
  }
}

/** The upstream W3C context in the envelope's headers (header names compared case-insensitively). */
function upstreamCarrier(headers: Record<string, string>): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === W3C_TRACEPARENT_HEADER || lower === W3C_TRACESTATE_HEADER) carrier[lower] = value;
  }
  return carrier[W3C_TRACEPARENT_HEADER] === undefined ? undefined : carrier;
}

/**
 * Runs `start` inside the publish span with the envelope's `traceId` set to the trace's id. A `traceparent`
 * that is not valid W3C is ignored, as the W3C spec says: the message starts a trace of its own (the header
 * stays in the envelope, and a span event `dlq.invalid_traceparent` records it).
 */
export async function withPublishSpan<T>(
  envelope: Envelope,
  start: (envelope: Envelope) => Promise<T>,
  describe: (result: T) => Record<string, string | boolean>,
): Promise<T> {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only for a traced client */
  const api = require('@opentelemetry/api') as typeof ApiModule;
  const core = require('@opentelemetry/core') as typeof CoreModule;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const carrier = upstreamCarrier(envelope.headers);
  const active = api.context.active();
  const parent = carrier
    ? new core.W3CTraceContextPropagator().extract(active, carrier, api.defaultTextMapGetter)
    : active;
  const invalidUpstream = carrier !== undefined && parent === active;
  const tracer = api.trace.getTracer('temporal-dlq');
  const attributes = { 'messaging.destination.name': envelope.topic, 'messaging.message.id': envelope.id };
  return tracer.startActiveSpan(
    `${PUBLISH_SPAN_PREFIX} ${envelope.topic}`,
    { kind: api.SpanKind.PRODUCER, attributes },
    parent,
    async (span) => {
      try {
        if (invalidUpstream) span.addEvent('dlq.invalid_traceparent', { value: carrier.traceparent ?? '' });
        const context = span.spanContext();
        // No TracerProvider and no upstream: a non-recording span without a trace; keep the envelope as given.
        const traceId = api.isSpanContextValid(context) ? context.traceId : undefined;
        if (traceId && envelope.traceId !== undefined && envelope.traceId !== traceId)
          throw new TraceIdMismatch(envelope.traceId, traceId);
        const result = await start(traceId ? { ...envelope, traceId } : envelope);
        span.setAttributes(describe(result));
        span.setStatus({ code: api.SpanStatusCode.OK });
        return result;
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: (err as Error).name });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
