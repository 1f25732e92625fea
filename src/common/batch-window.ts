/** How a `BatchWindow` hands over what it gathered, and what it does with a failed hand-over. */
export interface BatchWindowOptions<K, V> {
  /** How long the first value of a batch waits for others to join it; 0: until the next turn. */
  gatherMs?: number;
  /** What a key added again before its batch went out becomes; by default the later value. */
  merge?: (earlier: V, later: V) => V;
  deliver: (batch: Map<K, V>) => Promise<void>;
  onFailure: (error: unknown) => void;
}

/**
 * Gathers values by key and delivers them in batches: a value goes out `gatherMs` after the first
 * one of its batch came, with whatever else came meanwhile. Batches never overlap: values that
 * come while one is being delivered make the next, which goes as soon as its first value has
 * waited `gatherMs`. A burst costs a few batches rather than one delivery per value, and no value
 * waits longer than `gatherMs` plus the batch before it.
 */
export class BatchWindow<K, V> {
  private pending = new Map<K, V>();
  /** When the first value now pending came. */
  private gatheringSince = 0;
  private timer?: NodeJS.Timeout;
  private delivering: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: BatchWindowOptions<K, V>) {}

  add(key: K, value: V): void {
    if (this.closed) return;
    if (this.pending.size === 0) this.gatheringSince = Date.now();
    const earlier = this.pending.get(key);
    // Re-inserted so that the batch keeps the order in which the latest values came.
    this.pending.delete(key);
    this.pending.set(
      key,
      earlier !== undefined && this.options.merge ? this.options.merge(earlier, value) : value,
    );
    this.schedule();
  }

  /** Delivers what is gathered now, after a batch already under way. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.delivering;
    await this.deliver();
  }

  /** Drops what is gathered and takes nothing more. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private schedule(): void {
    if (this.timer || this.delivering || this.pending.size === 0) return;
    const waited = Date.now() - this.gatheringSince;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.deliver();
      },
      Math.max(0, (this.options.gatherMs ?? 0) - waited),
    );
    this.timer.unref();
  }

  private async deliver(): Promise<void> {
    if (this.pending.size === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = new Map();
    this.delivering = this.options.deliver(batch).catch(this.options.onFailure);
    await this.delivering;
    this.delivering = null;
    this.schedule();
  }
}
