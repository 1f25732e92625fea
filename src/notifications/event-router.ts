import { AppError } from '../common/errors.js';
import { PatternIndex, patternProblem } from './event-patterns.js';
import type { PublishedEvent, Subscriptions, SubscriptionScope } from './notifications.events.js';

/** One connection that subscribes to events, whatever its transport. */
export interface EventSubscriber {
  readonly userId: string;
  readonly isAdmin: boolean;
  deliver(event: PublishedEvent): void;
  /**
   * Called once an event was handed to every subscriber it matched, once per distinct function:
   * a transport that gathers an event's deliveries to send them together sends them here.
   */
  readonly endOfEvent?: () => void;
}

/**
 * Who an event is for: the user it is about (and admins following everyone), every user
 * (`broadcast`), or admins only (events about the system or an attacker, which have no user).
 */
export type EventAudience = { userId: string } | 'broadcast' | 'admins';

interface Held {
  readonly patterns: Set<string>;
  scope: SubscriptionScope;
}

/**
 * This instance's event subscriptions, by pattern (docs/protocol.md, Notifications). Matching an
 * event costs O(segments of its type) plus what matches, however many subscriptions there are:
 * patterns live in tries, one per user for what users hear of their own events, one for
 * broadcasts, one for admins following everyone.
 */
export class EventRouter {
  private readonly held = new Map<EventSubscriber, Held>();
  private readonly ownByUser = new Map<string, PatternIndex<EventSubscriber>>();
  private readonly ownAnyUser = new PatternIndex<EventSubscriber>();
  private readonly everyone = new PatternIndex<EventSubscriber>();

  constructor(private readonly maxPatterns: number) {}

  /**
   * Adds patterns (and sets the scope: `all` is for admins only). All or nothing: an invalid
   * pattern or going past the limit changes nothing.
   */
  subscribe(
    subscriber: EventSubscriber,
    patterns: readonly string[],
    scope: SubscriptionScope = 'own',
  ): Subscriptions {
    const problems = patterns.flatMap((pattern) => {
      const problem = patternProblem(pattern);
      return problem === null ? [] : [problem];
    });
    if (problems.length > 0) {
      throw AppError.validation(problems[0] ?? 'invalid pattern', [{ field: 'eventTypes', problems }]);
    }
    if (scope === 'all' && !subscriber.isAdmin) {
      throw AppError.forbidden("Only admins may subscribe to everyone's events (scope 'all')");
    }
    const current = this.held.get(subscriber);
    const added = new Set([...(current?.patterns ?? []), ...patterns]);
    if (added.size > this.maxPatterns) {
      const problem = `at most ${this.maxPatterns} subscriptions per connection`;
      throw AppError.validation(problem, [{ field: 'eventTypes', problems: [problem] }]);
    }
    if (current) this.unindex(subscriber, current);
    const held: Held = { patterns: added, scope };
    this.held.set(subscriber, held);
    this.index(subscriber, held);
    return describe(held);
  }

  unsubscribe(subscriber: EventSubscriber, patterns: readonly string[]): Subscriptions {
    const current = this.held.get(subscriber);
    if (!current) return { eventTypes: [], scope: 'own' };
    this.unindex(subscriber, current);
    for (const pattern of patterns) current.patterns.delete(pattern);
    this.index(subscriber, current);
    return describe(current);
  }

  subscriptionsOf(subscriber: EventSubscriber): Subscriptions {
    const current = this.held.get(subscriber);
    return current ? describe(current) : { eventTypes: [], scope: 'own' };
  }

  /** Forgets a connection that closed. */
  remove(subscriber: EventSubscriber): void {
    const current = this.held.get(subscriber);
    if (!current) return;
    this.unindex(subscriber, current);
    this.held.delete(subscriber);
  }

  /** Delivers to every matching subscriber of this instance, each once; answers how many. */
  route(event: PublishedEvent, audience: EventAudience): number {
    const matched = this.everyone.match(event.type);
    if (audience === 'broadcast') {
      for (const subscriber of this.ownAnyUser.match(event.type)) matched.add(subscriber);
    } else if (audience !== 'admins') {
      for (const subscriber of this.ownByUser.get(audience.userId)?.match(event.type) ?? []) {
        matched.add(subscriber);
      }
    }
    const ends = new Set<() => void>();
    for (const subscriber of matched) {
      subscriber.deliver(event);
      if (subscriber.endOfEvent) ends.add(subscriber.endOfEvent);
    }
    for (const end of ends) end();
    return matched.size;
  }

  private index(subscriber: EventSubscriber, { patterns, scope }: Held): void {
    for (const pattern of patterns) {
      if (scope === 'all') {
        this.everyone.add(pattern, subscriber);
        continue;
      }
      this.ownAnyUser.add(pattern, subscriber);
      let own = this.ownByUser.get(subscriber.userId);
      if (!own) {
        own = new PatternIndex();
        this.ownByUser.set(subscriber.userId, own);
      }
      own.add(pattern, subscriber);
    }
  }

  private unindex(subscriber: EventSubscriber, { patterns, scope }: Held): void {
    for (const pattern of patterns) {
      if (scope === 'all') {
        this.everyone.remove(pattern, subscriber);
        continue;
      }
      this.ownAnyUser.remove(pattern, subscriber);
      this.ownByUser.get(subscriber.userId)?.remove(pattern, subscriber);
    }
    if (this.ownByUser.get(subscriber.userId)?.isEmpty()) this.ownByUser.delete(subscriber.userId);
  }
}

function describe({ patterns, scope }: Held): Subscriptions {
  return { eventTypes: [...patterns].sort(), scope };
}
