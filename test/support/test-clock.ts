import { Clock } from '../../src/common/clock.js';

/**
 * A clock that runs with the system time and can be set forward, so that a test reaches a token's
 * `exp` (whole seconds) without waiting for it. Hand it to `startApp(env, { clock })`.
 */
export class TestClock extends Clock {
  private offsetMs = 0;
  private readonly listeners = new Set<() => void>();

  now(): number {
    return Date.now() + this.offsetMs;
  }

  onJump(listener: () => void): () => void {
    const subscription = () => listener();
    this.listeners.add(subscription);
    return () => this.listeners.delete(subscription);
  }

  /**
   * Sets the clock `ms` forward. Whatever was waiting for a time the jump reached (an expiry
   * schedule) has run when this returns; what it sent to clients is on its way.
   */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`A clock only moves forward, not by ${ms} ms`);
    this.offsetMs += ms;
    for (const listener of [...this.listeners]) listener();
  }
}
