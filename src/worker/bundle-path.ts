/** Where `npm run build` writes the pre-built workflow bundle. */
import { join } from 'node:path';

/** Absolute path of the pre-built workflow bundle (`dist/workflow-bundle.js`). */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', '..', '..', 'dist', 'workflow-bundle.js');
/** Entry of the workflow code, for bundling. */
export const WORKFLOWS_ENTRY = require.resolve('../../workflows');
/**
 * Workflow interceptor module built into the bundle (`workflowInterceptorModules`): OpenTelemetry tracing of
 * the workflows whose start carries a trace context (workflows/tracing-interceptors.ts).
 */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('../../workflows/tracing-interceptors')];
