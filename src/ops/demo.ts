/**
 * The demo topics and batch that `npm start` publishes: orders (zod schema), payments (a bad token is a
 * security failure), a flaky downstream that recovers by itself, and a rate-limited API.
 */
import { z } from 'zod';
import { defineHandler } from '../worker/handlers';
import { SecurityError, TemporaryError } from '../contract/errors';
import type { PublishInput } from '../contract/envelope';

const orderSchema = z.object({
  orderId: z.string().min(1),
  customerId: z.string().min(1),
  items: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })).min(1),
  total: z.number().nonnegative(),
});

export const demoHandlers = [
  defineHandler({
    topic: 'orders',
    schema: orderSchema,
    stages: [
      { name: 'validate', run: ({ payload }) => ({ lines: payload.items.length }) },
      { name: 'reserve-stock', run: ({ payload }) => ({ reserved: payload.items.map((i) => i.sku) }) },
      { name: 'confirm', run: ({ payload }) => ({ confirmed: payload.orderId }) },
    ],
  }),
  defineHandler({
    topic: 'payments',
    handle: ({ payload }) => {
      const token = (payload as { token?: string }).token ?? '';
      if (!token.startsWith('tok_'))
        throw new SecurityError('Payment provider refused the card token', { reason: 'HTTP_401' });
      return { charged: true };
    },
  }),
  defineHandler({
    topic: 'inventory-sync',
    retry: { initialInterval: '200ms', maximumAttempts: 5 },
    handle: ({ attempt }) => {
      if (attempt < 3)
        throw Object.assign(new Error('connect ECONNRESET inventory.internal:443'), { code: 'ECONNRESET' });
      return { synced: true, attempts: attempt };
    },
  }),
  defineHandler({
    topic: 'crm-webhooks',
    retry: { initialInterval: '200ms', maximumAttempts: 3, maximumInterval: '1s' },
    redrive: { baseDelay: '1m' },
    handle: ({ payload }) => {
      if ((payload as { plan?: string }).plan === 'free') {
        throw new TemporaryError('CRM API rate limit exceeded', { reason: 'HTTP_429', retryAfter: '300ms' });
      }
      return { delivered: true };
    },
  }),
];

/** A small realistic batch: some succeed, some recover by themselves, some park. */
export function demoBatch(runTag: string): PublishInput[] {
  const msgs: PublishInput[] = [];
  for (let i = 1; i <= 4; i++) {
    msgs.push({
      id: `${runTag}-order-${i}`,
      topic: 'orders',
      correlationId: `checkout-${runTag}-${i}`,
      payload:
        i % 2 === 0
          ? { orderId: `o-${i}`, customerId: `c-${i}`, items: [{ sku: 'SKU-1', quantity: 0 }], total: 10 }
          : { orderId: `o-${i}`, customerId: `c-${i}`, items: [{ sku: 'SKU-1', quantity: 2 }], total: 20 },
    });
  }
  msgs.push({ id: `${runTag}-pay-1`, topic: 'payments', payload: { amount: 42, token: 'tok_visa' } });
  msgs.push({ id: `${runTag}-pay-2`, topic: 'payments', payload: { amount: 99, token: 'expired-token' } });
  msgs.push({ id: `${runTag}-inv-1`, topic: 'inventory-sync', payload: { sku: 'SKU-1', delta: -2 } });
  msgs.push({ id: `${runTag}-crm-1`, topic: 'crm-webhooks', payload: { contact: 'c-1', plan: 'pro' } });
  msgs.push({ id: `${runTag}-crm-2`, topic: 'crm-webhooks', payload: { contact: 'c-2', plan: 'free' } });
  msgs.push({ id: `${runTag}-ship-1`, topic: 'shipping-labels', payload: { orderId: 'o-1' } });
  return msgs;
}
