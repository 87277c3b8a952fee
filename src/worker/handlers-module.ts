/** Loads the module named by DLQ_HANDLERS_MODULE (CommonJS or ES module) and checks its `handlers` export. */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config';
import type { AnyHandler } from './handlers';

// tsc's CommonJS output turns `import()` into `require()`, which cannot load an ES module with top-level await
// (nor any ES module before Node 20.19): this keeps a real dynamic import through the build.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importModule = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<unknown>;

/**
 * The `handlers` export of the module at `modulePath` (resolved against the working directory): an `.mjs`,
 * an ES module `.js` (top-level await included) or a CommonJS module. Throws `ConfigError` naming the variable
 * when the module has no `handlers` array; an error thrown while loading the module is passed on as it is.
 */
export async function loadHandlersModule(modulePath: string): Promise<AnyHandler[]> {
  const mod = (await importModule(pathToFileURL(resolve(modulePath)).href)) as {
    handlers?: unknown;
    default?: { handlers?: unknown };
  };
  // A CommonJS module imported from ESM shows `module.exports` as `default` (and its named exports only when
  // node can detect them statically).
  const handlers = mod.handlers ?? mod.default?.handlers;
  if (!Array.isArray(handlers)) {
    throw new ConfigError([
      `DLQ_HANDLERS_MODULE=${modulePath}: the module must export \`handlers\`, an array of defineHandler(...) results`,
    ]);
  }
  return handlers as AnyHandler[];
}
