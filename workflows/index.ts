/** Entry point of the workflow bundle: every workflow type the worker registers. */
export { processMessage } from './process-message';
export { dlqAnalytics } from './analytics';
