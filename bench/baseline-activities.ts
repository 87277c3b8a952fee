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

/** Workflow type of the bare parked workflow (see `baselineParked`). */
export const BASELINE_PARKED_WORKFLOW = 'baselineParked';
