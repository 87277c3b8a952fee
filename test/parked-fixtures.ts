/**
 * What only the visibility tests need beside the parked-looking messages (test/support/parked-workflows.ts,
 * shared with the bench): a client that counts their visibility calls.
 */
import { Client } from '@temporalio/client';
import type { Connection } from '@temporalio/client';

/** A Client whose visibility calls (counts and list pages) are counted where they leave for the server. */
export function visibilityCountingClient(connection: Connection): { client: Client; calls(): number } {
  let calls = 0;
  const service = new Proxy(connection.workflowService, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        if (prop === 'countWorkflowExecutions' || prop === 'listWorkflowExecutions') calls++;
        return fn.apply(target, args);
      };
    },
  });
  const counted = new Proxy(connection, {
    get(target, prop, receiver) {
      if (prop === 'workflowService') return service;
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: new Client({ connection: counted }), calls: () => calls };
}
