/** What every sink implements: deliver one event (idempotently, by its `eventId`), and close. */
import type { MirrorEvent } from '../contract/mirror';

export interface EventSink {
  /** Delivers the event; rejects when it could not (the `deliverMirrorEvent` activity is retried). */
  deliver(event: MirrorEvent): Promise<void>;
  /** Releases connections. Later deliveries reconnect. */
  close(): Promise<void>;
}
