/** How a `BatchWindow` hands over what it gathered, and what it does with a failed hand-over. */
export interface BatchWindowOptions<K, V> {
  /** The shortest time between two batches. */
  intervalMs: number;
  /** What a key added again before its batch went out becomes; by default the later value. */
  merge?: (earlier: V, later: V) => V;
  deliver: (batch: Map<K, V>) => Promise<void>;
  onFailure: (error: unknown) => void;
}

/**
 * Gathers values by key and delivers them in batches: the first value after a quiet interval
 * goes out at the next turn of the event loop, later ones at most once per `intervalMs`. A lone
 * change is barely delayed, and a burst costs one batch per interval rather than one delivery
 * per value. Batches never overlap: one that is still being delivered holds the next back.
 */
export class BatchWindow<K, V> {
  private pending = new Map<K, V>();
  private timer?: NodeJS.Timeout;
  private delivering: Promise<void> | null = null;
  private lastDeliveryAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(private readonly options: BatchWindowOptions<K, V>) {}

  add(key: K, value: V): void {
    if (this.closed) return;
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
    const wait = Math.max(0, this.lastDeliveryAt + this.options.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.deliver();
    }, wait);
    this.timer.unref();
  }

  private async deliver(): Promise<void> {
    if (this.pending.size === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = new Map();
    this.lastDeliveryAt = Date.now();
    this.delivering = this.options.deliver(batch).catch(this.options.onFailure);
    await this.delivering;
    this.delivering = null;
    this.schedule();
  }
}
