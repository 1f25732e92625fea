/*
 * What the AsyncAPI document (docs/asyncapi.json) is generated from: each Socket.IO namespace's
 * event maps as the client contracts type them, and the frames of the plain-WebSocket door. Types
 * only; `asyncapi.generator.ts` reads them with ts-json-schema-generator, so a change to a payload
 * type, or an event added to a map, shows in the document the next time it is generated (and fails
 * the drift test until then).
 */
import type { EventsFrame } from '../notifications/events-websocket.frames.js';
import type {
  AdminClientEvents,
  AdminEvent,
  AdminServerEvents,
  AuthenticatedPayload,
  AuthEvent,
  AuthExpiredPayload,
  ChatClientEvents,
  ChatEvent,
  ChatServerEvents,
  CommonServerEvents,
  DisconnectNotice,
  ErrorBody,
  LiveMessage,
  Notification,
  NotificationsClientEvents,
  NotificationsEvent,
  NotificationsServerEvents,
  PongPayload,
  PresenceClientEvents,
  PresenceEvent,
  PresenceServerEvents,
  PresenceServerToClientEvents,
  PublishedEvent,
  RefreshRequest,
  RefreshResult,
  SessionsClientEvents,
  SessionsEvent,
  SessionsServerEvents,
  SubscribeRequest,
  Subscriptions,
  SyncRequiredPayload,
  SystemNotice,
  UnsubscribeRequest,
} from '../contracts/index.js';

// A namespace: what the server emits (`server`) and what it handles (`client`).
interface Namespace<TServer, TClient> {
  server: TServer;
  client: TClient;
}

/** Every Socket.IO namespace, by its name. The keys are the channels' addresses. */
export interface SocketIoNamespaces {
  /** Sessions: the live-session count, the session list (admins), who the connection is. */
  '/': Namespace<SessionsServerEvents, SessionsClientEvents>;
  /**
   * Chat: messages, read positions, typing. A `/chat` socket also receives `user:online`,
   * `user:offline` and `user:status` of its chats' members.
   */
  '/chat': Namespace<ChatServerEvents & PresenceServerToClientEvents, ChatClientEvents>;
  /** Presence: statuses, following users' presence, querying it. */
  '/presence': Namespace<PresenceServerEvents, PresenceClientEvents>;
  /** Notifications: event subscriptions by pattern, the stored inbox, live messages. */
  '/notifications': Namespace<NotificationsServerEvents, NotificationsClientEvents>;
  /** Admin, role `admin` (the handshake refuses anyone else): cluster stats, events, commands. */
  '/admin': Namespace<AdminServerEvents, AdminClientEvents>;
}

/**
 * The event-name constants of each namespace. The generator takes each message's description
 * from the constant's comment (or from the event map's own), and fails when a name here is in
 * neither of the namespace's maps. `AuthEvent` and `RealtimeEvent` name events of every namespace.
 */
export interface SocketIoEventNames {
  '/': typeof SessionsEvent;
  '/chat': typeof ChatEvent;
  '/presence': typeof PresenceEvent;
  '/notifications': typeof NotificationsEvent;
  '/admin': typeof AdminEvent;
}

/** A frame of `/ws/events`: JSON text, the same shape both ways. */
export interface Frame<TType extends string, TPayload> {
  type: TType;
  payload: TPayload;
}

/** A client frame whose payload is not read. */
export interface BareFrame<TType extends string> {
  type: TType;
  /** Not read. */
  payload?: unknown;
}

// A client frame of `/ws/events` and the frame that answers it (or `error`). Not exported and
// without a doc comment: the schema generator writes it in place, and its comment would stand for
// every request's.
interface FrameRequest<TRequest, TAnswer> {
  request: TRequest;
  answer: TAnswer;
}

type F = typeof EventsFrame;
type A = typeof AuthEvent;

/** Client frames of `/ws/events`, each answered by one frame (or by `error`), in order. */
export interface EventsWebSocketRequests {
  [EventsFrame.Subscribe]: FrameRequest<
    Frame<F['Subscribe'], SubscribeRequest>,
    Frame<F['Subscribed'], Subscriptions>
  >;
  [EventsFrame.Unsubscribe]: FrameRequest<
    Frame<F['Unsubscribe'], UnsubscribeRequest>,
    Frame<F['Unsubscribed'], Subscriptions>
  >;
  [EventsFrame.GetSubscriptions]: FrameRequest<
    BareFrame<F['GetSubscriptions']>,
    Frame<F['Subscriptions'], Subscriptions>
  >;
  [EventsFrame.Ping]: FrameRequest<BareFrame<F['Ping']>, Frame<F['Pong'], PongPayload>>;
  /** The rules of `auth:refresh` on Socket.IO; may be answered after frames sent behind it. */
  [EventsFrame.Refresh]: FrameRequest<
    Frame<F['Refresh'], RefreshRequest>,
    Frame<F['Refreshed'], RefreshResult>
  >;
}

/** Server frames of `/ws/events` that answer no request. */
export interface EventsWebSocketNotices {
  /** First frame of an admitted connection. */
  [EventsFrame.Authenticated]: Frame<F['Authenticated'], AuthenticatedPayload>;
  /** A frame was refused; the connection stays open. */
  [EventsFrame.Error]: Frame<F['Error'], ErrorBody>;
  /** A published event matching a subscription. */
  [EventsFrame.Event]: Frame<F['Event'], PublishedEvent>;
  /** A stored notification of the user, or a broadcast one. */
  [EventsFrame.Notification]: Frame<F['Notification'], Notification>;
  /** A live-only message, flat, with the sender's `type`. */
  [EventsFrame.Message]: Frame<F['Message'], LiveMessage>;
  /** The user read a notification (on any device). */
  [EventsFrame.NotificationRead]: Frame<F['NotificationRead'], { id: number }>;
  /** The user read all their notifications. */
  [EventsFrame.ReadAll]: Frame<F['ReadAll'], { read: number }>;
  /** Live delivery may have dropped frames: read the inbox again over REST. */
  [EventsFrame.SyncRequired]: Frame<F['SyncRequired'], SyncRequiredPayload>;
  /** The instance is shutting down: the connection closes with 1001; reconnect. */
  [EventsFrame.System]: Frame<F['System'], SystemNotice>;
  /** The token expired: the connection closes with 1008 `AUTH_EXPIRED`. */
  [AuthEvent.Expired]: Frame<A['Expired'], AuthExpiredPayload>;
  /** The session was revoked: the connection closes with 1008 `AUTH_REVOKED`. */
  [AuthEvent.Revoked]: Frame<A['Revoked'], DisconnectNotice & { sessionId: string }>;
  /** `SESSION_POLICY=single` and the user connected again: close 1008 `SESSION_REPLACED`. */
  [AuthEvent.Replaced]: Frame<A['Replaced'], DisconnectNotice>;
  /** Frames over the rate for `RATE_LIMIT_FLOOD_SECONDS` in a row: close 1008 `RATE_LIMITED`. */
  [AuthEvent.RateLimited]: Frame<A['RateLimited'], DisconnectNotice>;
}

/** The plain-WebSocket door, beside the namespaces. */
export interface EventsWebSocketDoor {
  requests: EventsWebSocketRequests;
  notices: EventsWebSocketNotices;
}

/** Everything the AsyncAPI document describes, as one type for the schema generator. */
export interface AsyncApiContract {
  namespaces: SocketIoNamespaces;
  eventsWebSocket: EventsWebSocketDoor;
}

/*
 * Checks the compiler runs (the schema generator cannot read them, so they stay out of the types
 * above): every frame type of the door is a request, an answer or a notice; and each notice the
 * door relays from the authentication layer carries what the same Socket.IO event has as `data`.
 */
type DoorFrameTypes =
  | keyof EventsWebSocketRequests
  | EventsWebSocketRequests[keyof EventsWebSocketRequests]['answer']['type']
  | keyof EventsWebSocketNotices;
type Same<X, Y> = [X] extends [Y] ? ([Y] extends [X] ? true : false) : false;
type NoticeData<E extends keyof CommonServerEvents> = Parameters<CommonServerEvents[E]>[0] extends {
  data: infer D;
}
  ? D
  : never;
type RelayedNotices =
  | F['Authenticated']
  | F['SyncRequired']
  | F['System']
  | A['Expired']
  | A['Revoked']
  | A['Replaced']
  | A['RateLimited'];
type Assert<T extends true> = T;
export type _EveryDoorFrameDocumented = Assert<
  [Exclude<F[keyof F], DoorFrameTypes>] extends [never] ? true : false
>;
export type _RelayedNoticesMatchSocketIo = Assert<
  { [E in RelayedNotices]: Same<EventsWebSocketNotices[E]['payload'], NoticeData<E>> }[RelayedNotices]
>;
