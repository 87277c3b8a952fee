/** RFC 7386 JSON Merge Patch. Pure and workflow-safe; never mutates its inputs. */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Applies `patch` to `target` as RFC 7386 says: an object patch merges key by key, `null` deletes a key,
 * and any non-object patch replaces the target whole.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredCloneJson(patch);
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function structuredCloneJson(value: unknown): unknown {
  return value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
}

/**
 * The payload a retry runs with: `patch` merged into the current payload, or `payload` whole, or the current
 * one unchanged. Shared by the workflow and the CLI's dry run so both always agree.
 */
export function repairedPayload(current: unknown, input: { patch?: unknown; payload?: unknown }): unknown {
  if (input.patch !== undefined) return applyMergePatch(current, input.patch);
  return input.payload !== undefined ? input.payload : current;
}
