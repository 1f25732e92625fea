import * as contracts from '../contracts/index.js';

/** The label of every event name that is not known: what clients invent stays one series. */
export const OTHER_EVENT = 'other';

/**
 * The event names of the wire contract (src/contracts): the values of every `…Event` map it
 * exports (`ChatEvent`, `PresenceEvent`, …), both directions, with the two every namespace
 * carries without a constant of its own (`system`, `exception`). Gateways of a host application
 * add their handlers' names at run time (`EventLabels.learn`).
 */
export const CONTRACT_EVENTS: readonly string[] = [
  ...new Set([
    ...Object.entries(contracts)
      .filter(([name, value]) => name.endsWith('Event') && typeof value === 'object' && value !== null)
      .flatMap(([, events]) => Object.values(events as Record<string, unknown>))
      .filter((event): event is string => typeof event === 'string'),
    'system',
    'exception',
  ]),
];

/**
 * One labelled series per known event name, made once, plus `other` for everything else: a
 * client sending made-up event names cannot grow the label set. `of` is a map lookup on the
 * hot path; what it returns is the pre-bound child whose increment or observation follows.
 */
export class EventLabels<Child> {
  private readonly children = new Map<string, Child>();
  private readonly other: Child;

  constructor(
    private readonly bind: (event: string) => Child,
    names: Iterable<string> = CONTRACT_EVENTS,
  ) {
    this.other = bind(OTHER_EVENT);
    this.learn(names);
  }

  /** Adds names that belong to code (a gateway's handlers), never names a client sent. */
  learn(names: Iterable<string>): void {
    for (const name of names) {
      if (name !== OTHER_EVENT && !this.children.has(name)) this.children.set(name, this.bind(name));
    }
  }

  of(event: unknown): Child {
    return (typeof event === 'string' ? this.children.get(event) : undefined) ?? this.other;
  }

  get size(): number {
    return this.children.size + 1;
  }
}
