/**
 * Waiting for a condition on state that changes as events arrive: the owner calls `changed()`
 * after each change, a test awaits `until(condition)`. No polling, no sleeping.
 */
export class Conditions {
  private readonly waiters = new Set<() => void>();

  changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves once `condition` holds (at once if it already does); rejects after `timeoutMs`. */
  until(condition: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${typeof what === 'string' ? what : what()}: not within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}
