/**
 * Workflow interceptors of OpenTelemetry tracing, built into the workflow bundle (`workflowInterceptorModules`
 * in scripts/bundle-workflows.ts and test/run-suite.ts). Not a workflow.
 *
 * A workflow whose start carries the trace header (`TEMPORAL_TRACE_HEADER`, set by the client interceptor of a
 * producer with tracing on, or by the previous run's continue-as-new) hands every call to the interceptors of
 * `@temporalio/interceptors-opentelemetry`: its run becomes a `RunWorkflow` span of the producer's trace, and
 * each activity and local activity it schedules carries that context to the worker. A workflow started without
 * it runs untouched and never loads OpenTelemetry: with the reusable V8 context every module a workflow loads
 * is evaluated again per workflow, so loading it for untraced messages would cost every message.
 *
 * Determinism: the choice depends only on the start's headers, which are in the history, so a replay makes the
 * same choice on any worker, with tracing on or off. The SDK gates every yield the OpenTelemetry interceptors
 * add behind SDK flags recorded in the history, and scheduling stays synchronous (no command moves).
 */
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowInternalsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type * as OtelWorkflowInterceptorsModule from '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';
import { TEMPORAL_TRACE_HEADER } from '../src/contract/tracing';

interface OtelInterceptors {
  inbound: WorkflowInboundCallsInterceptor;
  outbound: WorkflowOutboundCallsInterceptor;
  internals: WorkflowInternalsInterceptor;
}

function loadOtelInterceptors(): OtelInterceptors {
  type Otel = typeof OtelWorkflowInterceptorsModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  const otel = require('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors') as Otel;
  const { inbound, outbound, internals } = otel.interceptors();
  return { inbound: inbound![0]!, outbound: outbound![0]!, internals: internals![0]! };
}

/** The interceptors of one workflow: pass-through until `execute` sees the trace header. */
export const interceptors = (): WorkflowInterceptors => {
  let otel: OtelInterceptors | undefined;
  const inbound: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      if (input.headers[TEMPORAL_TRACE_HEADER] === undefined) return next(input);
      otel = loadOtelInterceptors();
      return otel.inbound.execute!(input, next);
    },
    handleSignal: (input, next) => (otel ? otel.inbound.handleSignal!(input, next) : next(input)),
    handleUpdate: (input, next) => (otel ? otel.inbound.handleUpdate!(input, next) : next(input)),
    validateUpdate: (input, next) => (otel ? otel.inbound.validateUpdate!(input, next) : next(input)),
    handleQuery: (input, next) => (otel ? otel.inbound.handleQuery!(input, next) : next(input)),
  };
  const outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => (otel ? otel.outbound.scheduleActivity!(input, next) : next(input)),
    scheduleLocalActivity: (input, next) =>
      otel ? otel.outbound.scheduleLocalActivity!(input, next) : next(input),
    startChildWorkflowExecution: (input, next) =>
      otel ? otel.outbound.startChildWorkflowExecution!(input, next) : next(input),
    continueAsNew: (input, next) => (otel ? otel.outbound.continueAsNew!(input, next) : next(input)),
    signalWorkflow: (input, next) => (otel ? otel.outbound.signalWorkflow!(input, next) : next(input)),
    getLogAttributes: (input, next) => (otel ? otel.outbound.getLogAttributes!(input, next) : next(input)),
  };
  const internals: WorkflowInternalsInterceptor = {
    dispose: (input, next) => (otel ? otel.internals.dispose!(input, next) : next(input)),
  };
  return { inbound: [inbound], outbound: [outbound], internals: [internals] };
};
