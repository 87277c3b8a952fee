/**
 * Wire names of OpenTelemetry tracing, defined once. Workflow-safe: no I/O, no imports.
 *
 * A message is traced when its producer published it through a client that carries the OpenTelemetry client
 * interceptor: the workflow start then carries the trace context in the Temporal header below, and that header
 * (recorded in the history) is what turns tracing on inside the workflow, the same way on every replay.
 */

/**
 * Temporal header that carries the W3C trace context between client, workflow and activities. It is the
 * `TRACE_HEADER` of `@temporalio/interceptors-opentelemetry` (test/tracing.test.ts checks they agree).
 */
export const TEMPORAL_TRACE_HEADER = '_tracer-data';

/** The W3C Trace Context header an upstream producer puts in the envelope's `headers` to continue its trace. */
export const W3C_TRACEPARENT_HEADER = 'traceparent';

/** The W3C Trace Context vendor header that goes with `traceparent`. */
export const W3C_TRACESTATE_HEADER = 'tracestate';

/** Values of `DLQ_TRACING`. */
export const TRACING_MODES = ['off', 'on'] as const;
export type TracingMode = (typeof TRACING_MODES)[number];

/** Name of the span `publish` opens around the workflow start: `dlq.publish <topic>`. */
export const PUBLISH_SPAN_PREFIX = 'dlq.publish';

/** Activity type of a stage attempt (`runStage` of the message activities): its span gets the stage's attributes. */
export const STAGE_ACTIVITY_TYPE = 'runStage';
