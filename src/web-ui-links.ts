/** Links into the Temporal Web UI, printed by the `dlq` CLI and by `npm start`. */
import type { Config } from './config';

/** `DLQ_UI_URL`, else the local dev server's UI on `DLQ_UI_PORT`. */
export function uiBase(config: Pick<Config, 'DLQ_UI_URL' | 'DLQ_UI_PORT'>): string {
  return (config.DLQ_UI_URL ?? `http://localhost:${config.DLQ_UI_PORT}`).replace(/\/+$/, '');
}

/** URL of the Web UI's workflow list filtered by a visibility query. */
export function uiListUrl(uiBase: string, namespace: string, query: string): string {
  return `${uiBase}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

/** URL of one workflow in the Web UI. */
export function uiWorkflowUrl(uiBase: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBase}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
