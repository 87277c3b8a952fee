/** The baseline's one activity: does nothing. */
export function createBaselineActivities() {
  return {
    async noop(id: string): Promise<string> {
      return Promise.resolve(id);
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;

/** Workflow type of the baseline workflow. */
export const BASELINE_WORKFLOW = 'baselineWorkflow';
