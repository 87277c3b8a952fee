/**
 * OpenTelemetry tracing of the worker (`createWorker`'s `tracing`): a span per activity attempt of a traced
 * message, children of the workflow's context, and the sink through which the workflow spans made in the
 * sandbox reach a span processor. `@temporalio/interceptors-opentelemetry` is loaded only when tracing is on.
 */
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type {
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  InjectedSinks,
} from '@temporalio/worker';
import type * as OtelModule from '@temporalio/interceptors-opentelemetry';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';
import type * as ResourcesModule from '@opentelemetry/resources';
import type * as ApiModule from '@opentelemetry/api';
import { STAGE_ACTIVITY_TYPE, TEMPORAL_TRACE_HEADER } from '../contract/tracing';
import type { StageInput } from '../contract/types';
import { ensureTracingGlobals } from '../security/client-tracing';

/** Tracing options of `createWorker`. */
export interface WorkerTracingOptions {
  /**
   * Trace the messages that were published with tracing on: a `RunActivity:<type>` span per activity attempt
   * (every stage attempt among them), exported by the global TracerProvider (register one, e.g. with
   * `@opentelemetry/sdk-node` or `provider.register()`, before creating the worker).
   * @defaultValue `true` when `DLQ_TRACING=on`, else `false`
   */
  enabled?: boolean;
  /**
   * Where the workflow's own spans go (`RunWorkflow:processMessage`, `StartActivity:runStage`, `HandleUpdate:repair`,
   * …). They are made inside the workflow sandbox and leave it through a sink, so they need a processor of
   * their own (e.g. `new BatchSpanProcessor(exporter)`); they are not sent during replay.
   * @defaultValue none: the workflow spans are dropped; the trace context still reaches every activity, so
   * activity spans keep the message's trace id but name a parent span the backend never receives
   */
  workflowSpanProcessor?: SpanProcessor;
  /** Resource of the workflow spans. @defaultValue `service.name` = `temporal-dlq-worker` */
  resource?: Resource;
}

/** Name of the sink the OpenTelemetry workflow interceptors export through (`OpenTelemetrySinks`). */
const EXPORTER_SINK = 'exporter';

function loadOtel(): typeof OtelModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only with tracing on
  return require('@temporalio/interceptors-opentelemetry') as typeof OtelModule;
}

/**
 * Only activities scheduled by a traced workflow get a span: an untraced message never starts a stray trace.
 * A stage attempt's span (`RunActivity:runStage`) says which stage, attempt, cycle and payload version it ran.
 */
function tracedActivityInterceptors(otel: typeof OtelModule): ActivityInterceptorsFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only with tracing on
  const api = require('@opentelemetry/api') as typeof ApiModule;
  return (ctx) => {
    const traced = new otel.OpenTelemetryActivityInboundInterceptor(ctx);
    const inbound: ActivityInboundCallsInterceptor = {
      execute: (input, next) => {
        if (input.headers[TEMPORAL_TRACE_HEADER] === undefined) return next(input);
        return traced.execute(input, (inSpan) => {
          const stage =
            ctx.info.activityType === STAGE_ACTIVITY_TYPE ? (inSpan.args[0] as StageInput) : undefined;
          if (stage) {
            // Runs inside the attempt's span, which is the active one here.
            api.trace.getActiveSpan()?.setAttributes({
              'dlq.topic': stage.envelope.topic,
              'dlq.message_id': stage.envelope.id,
              'dlq.stage': stage.stage,
              'dlq.attempt': (stage.attemptOffset ?? 0) + ctx.info.attempt,
              'dlq.cycle': stage.cycle,
              'dlq.payload_version': stage.payloadVersion ?? 1,
              'dlq.local': ctx.info.isLocal,
            });
          }
          return next(inSpan);
        });
      },
    };
    return { inbound, outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx) };
  };
}

/** What `createWorker` adds to `Worker.create` for tracing. */
export interface WorkerTracingParts {
  activityInterceptors: ActivityInterceptorsFactory[];
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** Tracing is on but no global TracerProvider is registered: activity spans are not recorded (say so). */
  noTracerProvider: boolean;
}

/**
 * The activity interceptors and the workflow span sink of a worker. The sink is registered even with tracing
 * off: a traced message (its producer had tracing on) still runs the OpenTelemetry workflow interceptors
 * wherever it runs, and its spans are then dropped here instead of calling a sink the worker lacks.
 */
export function workerTracing(enabled: boolean, options: WorkerTracingOptions = {}): WorkerTracingParts {
  if (!enabled) {
    return {
      activityInterceptors: [],
      sinks: { [EXPORTER_SINK]: { export: { fn: () => undefined } } },
      noTracerProvider: false,
    };
  }
  ensureTracingGlobals();
  const otel = loadOtel();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only with tracing on
  const api = require('@opentelemetry/api') as typeof ApiModule;
  const global = api.trace.getTracerProvider();
  const noTracerProvider =
    global instanceof api.ProxyTracerProvider && global.getDelegateTracer('temporal-dlq') === undefined;
  const processor = options.workflowSpanProcessor;
  if (!processor) {
    return {
      activityInterceptors: [tracedActivityInterceptors(otel)],
      sinks: { [EXPORTER_SINK]: { export: { fn: () => undefined } } },
      noTracerProvider,
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only with tracing on
  const { Resource: ResourceClass } = require('@opentelemetry/resources') as typeof ResourcesModule;
  const resource = options.resource ?? new ResourceClass({ 'service.name': 'temporal-dlq-worker' });
  return {
    activityInterceptors: [tracedActivityInterceptors(otel)],
    sinks: { [EXPORTER_SINK]: otel.makeWorkflowExporter(processor, resource) },
    noTracerProvider,
  };
}
