/**
 * The OpenTelemetry client interceptor that `connectClient` adds with `DLQ_TRACING=on`: each workflow start,
 * signal and update gets a span and carries its context to the workflow in a Temporal header. Loaded only
 * when tracing is on, so a client without it loads no OpenTelemetry module.
 */
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type * as OtelClientModule from '@temporalio/interceptors-opentelemetry/lib/client';
import type * as ApiModule from '@opentelemetry/api';
import type * as CoreModule from '@opentelemetry/core';
import type * as ContextAsyncHooksModule from '@opentelemetry/context-async-hooks';

/**
 * The interceptors carry the context with the global propagator and find the current span through the global
 * context manager. A process that registered its TracerProvider with `@opentelemetry/sdk-node` or
 * `NodeTracerProvider.register()` has both; one that registered only a `BasicTracerProvider` (or nothing)
 * would send an empty context, and every workflow and activity would start a trace of its own. So, with
 * tracing on, register what is missing: the W3C trace-context and baggage propagator (OpenTelemetry's
 * default) and Node's AsyncLocalStorage context manager. What the application registered is kept.
 */
export function ensureTracingGlobals(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only with tracing on */
  const api = require('@opentelemetry/api') as typeof ApiModule;
  if (api.propagation.fields().length === 0) {
    const core = require('@opentelemetry/core') as typeof CoreModule;
    api.propagation.setGlobalPropagator(
      new core.CompositePropagator({
        propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()],
      }),
    );
  }
  // The no-op context manager (none registered) keeps nothing: a value set with `context.with` is not active inside.
  const probe = api.createContextKey('temporal-dlq.context-manager-probe');
  if (
    api.context.with(api.ROOT_CONTEXT.setValue(probe, true), () => api.context.active().getValue(probe)) !==
    true
  ) {
    const hooks = require('@opentelemetry/context-async-hooks') as typeof ContextAsyncHooksModule;
    api.context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** The workflow client interceptors of a traced client. */
export function tracingClientInterceptors(): WorkflowClientInterceptor[] {
  ensureTracingGlobals();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only with tracing on
  const otel = require('@temporalio/interceptors-opentelemetry/lib/client') as typeof OtelClientModule;
  return [new otel.OpenTelemetryWorkflowClientInterceptor()];
}

/** Whether `interceptors` (a client's workflow interceptors) include the OpenTelemetry one. */
export function hasTracingInterceptor(interceptors: unknown): boolean {
  if (!Array.isArray(interceptors) || interceptors.length === 0) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only a client with interceptors pays it
  const otel = require('@temporalio/interceptors-opentelemetry/lib/client') as typeof OtelClientModule;
  return interceptors.some((i) => i instanceof otel.OpenTelemetryWorkflowClientInterceptor);
}
