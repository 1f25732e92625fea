import type { AckResponse, Envelope } from '../common/envelope.js';

export const PRESENCE_NAMESPACE = '/presence';

/** Events of the `/presence` namespace (docs/protocol.md, Presence). */
export const PresenceEvent = {
  /** client → server `{ status }`, ack → the caller's own state. Seen by the user's other devices. */
  Set: 'presence:set',
  /** client → server `{ userIds }`, ack → their current states; their changes follow. */
  Subscribe: 'presence:subscribe',
  /** client → server `{ userIds }`, ack → `{ userIds }` no longer followed. */
  Unsubscribe: 'presence:unsubscribe',
  /** client → server `{ userIds }`, ack → their current states. */
  Query: 'presence:query',
  /** server → client: the user's first connection anywhere (or they became visible). */
  Online: 'user:online',
  /** server → client: the user's last connection closed and the grace period passed. */
  Offline: 'user:offline',
  /** server → client: an online user chose another status. */
  Status: 'user:status',
} as const;

/** `offline` is never chosen: it is the absence of connections. */
export const PRESENCE_STATUSES = ['online', 'away', 'busy', 'offline', 'invisible'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/** What `presence:set` accepts. `invisible`: others see `offline`; the user's own devices see `invisible`. */
export const CHOSEN_STATUSES = ['online', 'away', 'busy', 'invisible'] as const;
export type ChosenStatus = (typeof CHOSEN_STATUSES)[number];

export const PresenceLimits = {
  /** User ids in one `presence:subscribe`, `presence:unsubscribe`, `presence:query` or REST query. */
  maxIdsPerCall: 500,
  maxUserIdLength: 256,
} as const;

/** `user:online`, `user:offline`, `user:status`. */
export interface PresenceChange {
  userId: string;
  status: PresenceStatus;
  /** ISO-8601; when the user was last seen online (as others may know it), null if never. */
  lastSeenAt: string | null;
}

/** A user's presence as the asker may see it. */
export interface PresenceState extends PresenceChange {
  online: boolean;
  /** Live connections; shown only to the user and to admins. */
  connections?: number;
}

export interface SetPresenceRequest {
  status: ChosenStatus;
}

export interface PresenceUsersRequest {
  userIds: string[];
}

/** What the server sends on `/presence` (and the changes also on `/chat`), each in an envelope. */
export interface PresenceServerPayloads {
  [PresenceEvent.Online]: PresenceChange;
  [PresenceEvent.Offline]: PresenceChange;
  [PresenceEvent.Status]: PresenceChange;
}

export interface PresenceRequests {
  [PresenceEvent.Set]: { payload: SetPresenceRequest; result: PresenceState };
  [PresenceEvent.Subscribe]: { payload: PresenceUsersRequest; result: PresenceState[] };
  [PresenceEvent.Unsubscribe]: { payload: PresenceUsersRequest; result: PresenceUsersRequest };
  [PresenceEvent.Query]: { payload: PresenceUsersRequest; result: PresenceState[] };
}

export type PresenceServerToClientEvents = {
  [E in keyof PresenceServerPayloads]: (event: Envelope<E, PresenceServerPayloads[E]>) => void;
};

export type PresenceClientToServerEvents = {
  [E in keyof PresenceRequests]: (
    payload: PresenceRequests[E]['payload'],
    ack: (response: AckResponse<PresenceRequests[E]['result']>) => void,
  ) => void;
};
