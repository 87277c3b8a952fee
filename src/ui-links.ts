/** Links into the Temporal Web UI. */

/** URL of the Web UI's workflow list filtered by a visibility query. */
export function uiListUrl(uiBase: string, namespace: string, query: string): string {
  return `${uiBase}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

/** URL of one workflow in the Web UI. */
export function uiWorkflowUrl(uiBase: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBase}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
