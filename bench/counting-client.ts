/** A Client whose WorkflowService calls are counted by method: the server calls of one computation. */
import { Client } from '@temporalio/client';
import type { Connection } from '@temporalio/client';

export interface CountingClient {
  client: Client;
  /** Calls by method name since the last `reset()`. */
  calls(): Record<string, number>;
  reset(): void;
}

export function countingClient(connection: Connection, namespace = 'default'): CountingClient {
  const counts = new Map<string, number>();
  const service = new Proxy(connection.workflowService, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        counts.set(prop, (counts.get(prop) ?? 0) + 1);
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
  return {
    client: new Client({ connection: counted, namespace }),
    calls: () => Object.fromEntries(counts),
    reset: () => counts.clear(),
  };
}
