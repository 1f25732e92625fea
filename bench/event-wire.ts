import { randomUUID } from 'node:crypto';
import type { PublishedEvent } from '../src/notifications/notifications.events.js';

/**
 * What the events phase's load and targets agree on beyond the Notifications protocol
 * (docs/protocol.md): the type published, the subscribers' patterns and the baseline's room.
 */
export const FANOUT_EVENT_TYPE = 'bench.fanout';

/** Each matches `FANOUT_EVENT_TYPE`: subscriber `i` holds pattern `i % 3`. */
export const SUBSCRIBER_PATTERNS = [FANOUT_EVENT_TYPE, 'bench.*', '*'] as const;

export const EVENTS_PATH = '/api/events';
/** The `event` of the events phase's sweeps: what triggers each broadcast. */
export const PUBLISH_EVENT = `POST ${EVENTS_PATH}`;
export const NOTIFICATIONS_PATH = '/api/notifications';

/** The room of bare Socket.IO's `/notifications` that every `subscribe` joins, whatever the patterns. */
export const BASELINE_EVENTS_ROOM = 'events';

/** The event bare Socket.IO broadcasts: Switchboard's shape, ids and times included. */
export function baselineEvent(type: string, data: unknown): PublishedEvent {
  return { id: randomUUID(), type, data, timestamp: new Date().toISOString() };
}
