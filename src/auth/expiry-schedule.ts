import type { Clock } from '../common/clock.js';

/** setTimeout's ceiling; a later expiry is reached by re-arming when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `onExpired` for each entry once its time has come, with one timer for all of them.
 * A timer per connection would cost a `Timeout` each and, as every connection's delay differs,
 * one of Node's timer lists each too. Entries are grouped by the second they fall due in,
 * which loses nothing for token expiries (JWT `exp` is in whole seconds).
 *
 * Times are read from `clock`. The timer only measures elapsed time, so when the clock jumps
 * forward the schedule looks again at once and expires whatever the jump made due.
 */
export class ExpirySchedule<Entry> {
  private readonly dueBySecond = new Map<number, Set<Entry>>();
  private readonly secondOf = new Map<Entry, number>();
  private timer?: NodeJS.Timeout;
  private armedForSecond = Infinity;
  /** Set while the timer is armed: a jump of the clock may have brought its time. */
  private stopWatchingClock?: () => void;

  constructor(
    private readonly onExpired: (entry: Entry) => void,
    private readonly clock: Clock,
  ) {}

  get size(): number {
    return this.secondOf.size;
  }

  /** Schedules `entry` at `atMs` (epoch ms), replacing its earlier time if it had one. */
  schedule(entry: Entry, atMs: number): void {
    this.cancel(entry);
    const second = Math.ceil(atMs / 1000);
    let due = this.dueBySecond.get(second);
    if (!due) {
      due = new Set();
      this.dueBySecond.set(second, due);
    }
    due.add(entry);
    this.secondOf.set(entry, second);
    if (second < this.armedForSecond) this.arm(second);
  }

  cancel(entry: Entry): void {
    const second = this.secondOf.get(entry);
    if (second === undefined) return;
    this.secondOf.delete(entry);
    const due = this.dueBySecond.get(second);
    due?.delete(entry);
    if (due?.size === 0) this.dueBySecond.delete(second);
  }

  /** Stops the timer; scheduled entries are forgotten. */
  clear(): void {
    this.disarm();
    this.dueBySecond.clear();
    this.secondOf.clear();
  }

  private arm(second: number): void {
    clearTimeout(this.timer);
    this.armedForSecond = second;
    const delay = Math.min(Math.max(second * 1000 - this.clock.now(), 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
    this.stopWatchingClock ??= this.clock.onJump(() => this.fire());
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedForSecond = Infinity;
    this.stopWatchingClock?.();
    this.stopWatchingClock = undefined;
  }

  private fire(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedForSecond = Infinity;
    const now = this.clock.now();
    for (const [second, due] of [...this.dueBySecond]) {
      if (second * 1000 > now) continue;
      this.dueBySecond.delete(second);
      for (const entry of due) {
        this.secondOf.delete(entry);
        this.onExpired(entry);
      }
    }
    let next = Infinity;
    for (const second of this.dueBySecond.keys()) next = Math.min(next, second);
    if (next !== Infinity) this.arm(next);
    else this.disarm();
  }
}
