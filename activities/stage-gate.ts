/**
 * A per-process gate between stage attempts: ordinary attempts share the process; an attempt whose earlier
 * attempt died with its worker runs alone, so that if it kills the process again, it was the only stage
 * running and the death is its own. A readers-writer lock that prefers the solo side, so solo attempts are
 * not starved by a steady flow of ordinary ones. Hand-written: a few dozen lines, and the lock libraries on
 * npm either lack writer preference and abort signals or are unmaintained.
 */
export class StageGate {
  private shared = 0;
  private soloActive = false;
  private soloWaitingCount = 0;
  private wakeups: Array<() => void> = [];

  /** Solo attempts waiting for their turn (the next to run alone). */
  get soloWaiting(): number {
    return this.soloWaitingCount;
  }

  /** True when an ordinary attempt could enter at once. */
  get sharedFree(): boolean {
    return !this.soloActive && this.soloWaitingCount === 0;
  }

  /** True when a solo attempt could enter at once. */
  get soloFree(): boolean {
    return !this.soloActive && this.shared === 0;
  }

  /** Enters as an ordinary attempt; returns the release function. Rejects with the signal's reason on abort. */
  async enterShared(signal?: AbortSignal): Promise<() => void> {
    while (!this.sharedFree) await this.nextChange(signal);
    this.shared += 1;
    return this.once(() => (this.shared -= 1));
  }

  /** Enters alone: waits for running attempts to end and keeps new ones out until released. */
  async enterSolo(signal?: AbortSignal): Promise<() => void> {
    this.soloWaitingCount += 1;
    let entered = false;
    try {
      while (!this.soloFree) await this.nextChange(signal);
      entered = true;
    } finally {
      this.soloWaitingCount -= 1;
      if (!entered) this.wakeAll(); // an abandoned wait may unblock ordinary attempts
    }
    this.soloActive = true;
    return this.once(() => (this.soloActive = false));
  }

  private nextChange(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const reason: unknown = signal!.reason;
        reject(reason instanceof Error ? reason : new Error(String(reason)));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.wakeups.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  private wakeAll(): void {
    for (const wake of this.wakeups.splice(0)) wake();
  }

  private once(release: () => void): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      this.wakeAll();
    };
  }
}
