/**
 * zod schemas for workflow code, loaded on first use.
 *
 * With the reusable V8 context (the SDK default) every module a workflow imports at top level is evaluated
 * again for each workflow and kept in that workflow's module cache while it is cached. zod is the largest of
 * them: importing it eagerly made every message, parked or not, build zod and all our schemas (the bench's
 * CPU profile and memory per cached workflow). Only operator actions and analytics runs validate with zod,
 * so only they load it. A `require` inside a function is still bundled by webpack, and loading a module has
 * no effect on the workflow's commands, so replay is unaffected.
 */
import type * as AnalyticsConfigModule from '../src/contract/analytics-config';
import type * as OperatorInputModule from '../src/contract/operator-input';

/** `retryInputSchema` and `discardInputSchema`, for the `retry`/`discard` signals and the `repair` update. */
export function operatorInputSchemas(): typeof OperatorInputModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  return require('../src/contract/operator-input') as typeof OperatorInputModule;
}

/** `analyticsConfigSchema`, for the `dlqAnalytics` workflow's input. */
export function analyticsConfigSchemas(): typeof AnalyticsConfigModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
  return require('../src/contract/analytics-config') as typeof AnalyticsConfigModule;
}
