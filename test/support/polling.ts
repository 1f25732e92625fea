import { setTimeout as delay } from 'node:timers/promises';

/**
 * Repeats `probe` until `accept` holds, for state that settles on its own on the server side
 * (writes landing in Redis, a heartbeat, a TTL). Without `intervalMs` the next probe starts as
 * soon as the previous answer is in; an interval is only for watching a timed decay or recovery.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  options: { what: string; timeoutMs: number; intervalMs?: number },
): Promise<{ value: T; elapsedMs: number }> {
  const started = performance.now();
  for (;;) {
    const value = await probe();
    const elapsedMs = performance.now() - started;
    if (accept(value)) return { value, elapsedMs };
    if (elapsedMs > options.timeoutMs) {
      throw new Error(`${options.what}: still ${JSON.stringify(value)} after ${ms(elapsedMs)}`);
    }
    await (options.intervalMs ? delay(options.intervalMs) : new Promise((resolve) => setImmediate(resolve)));
  }
}

/** A duration for test reports. */
export function ms(duration: number): string {
  return `${Math.round(duration)} ms`;
}
