/**
 * What a message id and a topic may contain. Plain regular expressions, zod-free: imported by workflow code
 * (see `workflows/lazy-schemas.ts` for why workflow code stays free of zod). Workflow-safe.
 */

/** Allowed characters of a message id (also used by topics, minus `:`). */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;
/** Topics end up inside workflow ids (`msg:<topic>:<id>`), so they cannot contain `:`. */
export const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
