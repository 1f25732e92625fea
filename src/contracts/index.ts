/**
 * The wire contract for clients: event names, payloads and ack shapes of every namespace.
 * Type a socket.io-client socket with them, e.g.
 * `const socket: Socket<SessionsServerEvents, SessionsClientEvents> = io(url, { auth: { token } })`.
 */
import type {
  AuthenticatedPayload,
  AuthExpiredPayload,
  DisconnectNotice,
  RefreshRequest,
  RefreshResult,
  Whoami,
} from '../auth/auth.events.js';
import type { AckResponse, Envelope } from '../common/envelope.js';
import type { ErrorBody } from '../common/error-codes.js';
import type { ChatClientToServerEvents, ChatServerToClientEvents } from '../chat/chat.events.js';
import type {
  PresenceClientToServerEvents,
  PresenceServerToClientEvents,
} from '../presence/presence.events.js';
import type {
  NotificationsClientToServerEvents,
  NotificationsServerToClientEvents,
} from '../notifications/notifications.events.js';
import type { PongPayload, SessionsCountPayload, SessionsListResult } from '../sessions/sessions.events.js';
import type { SyncRequiredPayload } from '../realtime/realtime.events.js';
import type { AdminClientToServerEvents, AdminServerToClientEvents } from '../admin/admin.events.js';

export * from '../auth/auth.events.js';
export * from '../sessions/sessions.events.js';
export * from '../chat/chat.events.js';
export * from '../presence/presence.events.js';
export * from '../notifications/notifications.events.js';
export * from '../realtime/realtime.events.js';
export * from '../admin/admin.events.js';
export type { AckFailure, AckResponse, AckSuccess, Envelope } from '../common/envelope.js';
export type { AuthFailureCode, ErrorBody, ErrorCode, HandshakeErrorCode } from '../common/error-codes.js';
export { AUTH_FAILURE_CODES, ERROR_CODES, HANDSHAKE_ERROR_CODES } from '../common/error-codes.js';

type Ack<T> = (response: AckResponse<T>) => void;

/** `system`: the instance shuts down, an admin broadcast, or an admin closing the connection. */
export interface SystemNotice {
  message: string;
  level: 'info' | 'success' | 'warning' | 'error' | 'critical';
  /** An admin broadcast's, when it has one. */
  title?: string;
}

/** Server → client events every namespace carries. */
export interface CommonServerEvents {
  authenticated: (event: Envelope<'authenticated', AuthenticatedPayload>) => void;
  'auth:expired': (event: Envelope<'auth:expired', AuthExpiredPayload>) => void;
  'auth:revoked': (event: Envelope<'auth:revoked', DisconnectNotice & { sessionId: string }>) => void;
  'session:replaced': (event: Envelope<'session:replaced', DisconnectNotice>) => void;
  rate_limited: (event: Envelope<'rate_limited', DisconnectNotice>) => void;
  system: (event: Envelope<'system', SystemNotice>) => void;
  /** Live delivery may have dropped events: sync after `syncAfterMs` (docs/protocol.md, Recovery). */
  'sync:required': (event: Envelope<'sync:required', SyncRequiredPayload>) => void;
  /** An error of an event sent without an ack. */
  exception: (error: ErrorBody) => void;
}

/** Client → server events every namespace accepts. */
export interface CommonClientEvents {
  'auth:refresh': (request: RefreshRequest, ack?: Ack<RefreshResult>) => void;
}

/** Namespace `/`. */
export interface SessionsServerEvents extends CommonServerEvents {
  'sessions:count': (event: Envelope<'sessions:count', SessionsCountPayload>) => void;
}

export interface SessionsClientEvents extends CommonClientEvents {
  'auth:whoami': (request: Record<string, never>, ack: Ack<Whoami>) => void;
  'sessions:count': (request: Record<string, never>, ack: Ack<SessionsCountPayload>) => void;
  'sessions:list': (request: { page?: number; limit?: number }, ack: Ack<SessionsListResult>) => void;
  ping: (request: Record<string, never>, ack: Ack<PongPayload>) => void;
}

/** Namespace `/chat`. */
export type ChatServerEvents = CommonServerEvents & ChatServerToClientEvents;
export type ChatClientEvents = CommonClientEvents & ChatClientToServerEvents;

/**
 * Namespace `/presence`. A `/chat` socket also receives `user:online`, `user:offline` and
 * `user:status` of its chats' members: type it `Socket<ChatServerEvents & PresenceServerToClientEvents, …>`
 * to listen for them there.
 */
export type PresenceServerEvents = CommonServerEvents & PresenceServerToClientEvents;
export type PresenceClientEvents = CommonClientEvents & PresenceClientToServerEvents;

/**
 * Namespace `/notifications`: event subscriptions by pattern (`event`, itself an envelope whose
 * `type` is the event type), stored notifications (`notification`, in the usual envelope) with
 * the inbox and its read state, and live messages (`message`, flat, with the sender's `type`).
 */
export type NotificationsServerEvents = CommonServerEvents & NotificationsServerToClientEvents;
export type NotificationsClientEvents = CommonClientEvents & NotificationsClientToServerEvents;

/**
 * Namespace `/admin` (role `admin`): `stats` on connect and every `ADMIN_STATS_MS`, every
 * `admin.*`, `security.*`, `session.*` and `system.*` event as `event`, and the admin actions.
 */
export type AdminServerEvents = CommonServerEvents & AdminServerToClientEvents;
export type AdminClientEvents = CommonClientEvents & AdminClientToServerEvents;
