/** The Web UI base URL the CLI prints links to. */
import type { Config } from '../config';

/** `DLQ_UI_URL`, else the local dev server's UI on `DLQ_UI_PORT`. */
export function uiBase(config: Pick<Config, 'DLQ_UI_URL' | 'DLQ_UI_PORT'>): string {
  return (config.DLQ_UI_URL ?? `http://localhost:${config.DLQ_UI_PORT}`).replace(/\/+$/, '');
}
