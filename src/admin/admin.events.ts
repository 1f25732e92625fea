import type { AckResponse, Envelope } from '../common/envelope.js';
import type { NotificationLevel, PublishedEvent } from '../notifications/notifications.events.js';

export const ADMIN_NAMESPACE = '/admin';
/** The plain-WebSocket door of the admin stream: `stats` and `event` frames as on `/admin`. */
export const ADMIN_WEBSOCKET_PATH = '/ws/admin';

/** Events of the `/admin` namespace, role `admin` (docs/protocol.md, Admin). */
export const AdminEvent = {
  /** server → client, on connect and every `ADMIN_STATS_MS`: the cluster's `AdminStats`. */
  Stats: 'stats',
  /** client → server, ack → the stats now (the same as the next push). */
  GetStats: 'admin:stats',
  /** client → server `{ userId, reason?, revoke? }`, ack → `DisconnectUserResult`. */
  DisconnectUser: 'admin:disconnect-user',
  /** client → server `{ level, title?, message }`, ack → `BroadcastResult`. */
  Broadcast: 'admin:broadcast',
  /** client → server `{ sessionId }`, ack → `RevokeSessionResult`. */
  RevokeSession: 'admin:revoke-session',
  /** server → client: an `admin.*`, `security.*`, `session.*` or `system.*` event (a `PublishedEvent`). */
  Event: 'event',
} as const;

/** What every `/admin` socket hears as `event`, everyone's (scope `all`), from the moment it connects. */
export const ADMIN_EVENT_PATTERNS = ['admin.*', 'security.*', 'session.*', 'system.*'] as const;

/** Why an audit entry was written; its event is `admin.<action>`. */
export const ADMIN_ACTIONS = ['user.disconnected', 'broadcast', 'session.revoked'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

export const AdminLimits = {
  maxUserIdLength: 256,
  maxSessionIdLength: 256,
  maxReasonLength: 500,
  maxTitleLength: 200,
  maxMessageLength: 2000,
  maxNamespaceLength: 256,
  maxServerIdLength: 64,
  defaultPageSize: 50,
  maxPageSize: 200,
} as const;

/** Per second, over the instance's last heartbeat (summed over the instances in `rates`). */
export interface TrafficRates {
  /** Client → server events handled (Socket.IO). */
  eventsInPerS: number;
  /** Server → client events written, one per connection reached (Socket.IO). */
  eventsOutPerS: number;
  /** Connections admitted (either door). */
  handshakesPerS: number;
  /** Handshakes refused: token, limits, a namespace's role, the origin. */
  refusedHandshakesPerS: number;
}

/** This instance, read when the stats are built. */
export interface ServerStats {
  serverId: string;
  connections: number;
  uptimeS: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Mean event-loop delay beyond its timer over the last heartbeat, in milliseconds. */
  eventLoopLagMs: number;
}

/** One instance as it published itself on its last heartbeat. */
export interface InstanceStats extends ServerStats {
  /** Users with a connection on this instance. */
  users: number;
  /** Endpoints per namespace; a plain WebSocket counts under its path (`/ws/events`). */
  byNamespace: Record<string, number>;
  rates: TrafficRates;
  /** ISO-8601: when it published these; null for a live instance that has not published yet. */
  updatedAt: string | null;
}

/** The cluster: every instance whose heartbeat is younger than `PRESENCE_TTL_MS`. */
export interface GlobalStats {
  totalServers: number;
  totalConnections: number;
  /**
   * Distinct users connected anywhere: exact on one instance; across instances a HyperLogLog
   * estimate (about 1 % off), never more than the sum of the instances' own counts.
   */
  totalUsers: number;
  byNamespace: Record<string, number>;
}

/** `stats`: built from what each instance publishes on its heartbeat, O(instances). */
export interface AdminStats {
  server: ServerStats;
  global: GlobalStats;
  servers: InstanceStats[];
  rates: TrafficRates;
}

export interface DisconnectUserRequest {
  userId: string;
  /** Told to each connection (as the `system` notice's message) before it closes; kept in the audit. */
  reason?: string;
  /** Also refuse the user's current tokens (every session of theirs) until they expire. */
  revoke?: boolean;
}

export interface DisconnectUserResult {
  userId: string;
  /** The user's live connections in the cluster view when the command went out. */
  disconnected: number;
  /** The sessions whose tokens are now refused (empty without `revoke`). */
  revokedSessions: string[];
  auditId: number;
}

export interface BroadcastRequest {
  level: NotificationLevel;
  title?: string;
  message: string;
}

export interface BroadcastResult {
  /** Live connections in the cluster view when the broadcast went out; each gets it once. */
  targetedConnections: number;
  auditId: number;
}

export interface RevokeSessionRequest {
  sessionId: string;
}

export interface RevokeSessionResult {
  sessionId: string;
  /** The session's user, when a live connection names them. */
  userId?: string;
  disconnected: number;
  auditId: number;
}

/** `system` as a broadcast (and a disconnect notice) sends it. */
export interface AdminSystemNotice {
  message: string;
  level: NotificationLevel;
  title?: string;
}

/** A live connection as admins list it. */
export interface AdminConnectionView {
  connectionId: string;
  sessionId: string;
  userId: string;
  roles: string[];
  serverId: string;
  namespaces: string[];
  connectedAt: string;
  expiresAt: string;
  ipAddress: string;
  userAgent: string;
}

export interface ConnectionsQuery {
  userId?: string;
  namespace?: string;
  serverId?: string;
  page?: number;
  limit?: number;
}

export interface ConnectionsPage {
  connections: AdminConnectionView[];
  totalCount: number;
  page: number;
  limit: number;
}

/** A user with live connections. */
export interface ConnectedUser {
  userId: string;
  connections: number;
  namespaces: string[];
  servers: string[];
  /** ISO-8601: their oldest live connection. */
  connectedSince: string;
}

export interface UsersPage {
  users: ConnectedUser[];
  totalCount: number;
  page: number;
  limit: number;
}

/** `GET /api/admin/users/:userId/status`: an unknown user is offline with no connections. */
export interface AdminUserStatus {
  userId: string;
  online: boolean;
  connections: number;
  /** Presence as the user chose it (`invisible` shown as is). */
  status: string;
  lastSeenAt: string | null;
  sessions: AdminConnectionView[];
}

/** One admin action, as stored; never changed or deleted by the API. */
export interface AuditEntry {
  id: number;
  /** Who: the admin's user id. */
  actorId: string;
  action: AdminAction;
  /** The user or session acted on; null for a broadcast. */
  target: string | null;
  reason: string | null;
  /** What else the action said and found (`revoke`, `disconnected`, a broadcast's text, …). */
  details: Record<string, unknown>;
  /** The admin's client address. */
  address: string | null;
  /** The door the admin used. */
  via: 'socket' | 'rest';
  /** ISO-8601. */
  createdAt: string;
}

export interface AuditQuery {
  /** An entry id: only older ones. */
  before?: number;
  limit?: number;
}

/** Newest first. */
export interface AuditPage {
  entries: AuditEntry[];
  hasMore: boolean;
}

export interface AdminServerPayloads {
  [AdminEvent.Stats]: AdminStats;
}

export interface AdminRequests {
  [AdminEvent.GetStats]: { payload: undefined; result: AdminStats };
  [AdminEvent.DisconnectUser]: { payload: DisconnectUserRequest; result: DisconnectUserResult };
  [AdminEvent.Broadcast]: { payload: BroadcastRequest; result: BroadcastResult };
  [AdminEvent.RevokeSession]: { payload: RevokeSessionRequest; result: RevokeSessionResult };
}

export type AdminServerToClientEvents = {
  [AdminEvent.Stats]: (event: Envelope<'stats', AdminStats>) => void;
  [AdminEvent.Event]: (event: PublishedEvent) => void;
};

export type AdminClientToServerEvents = {
  [E in keyof AdminRequests]: (
    payload: AdminRequests[E]['payload'],
    ack: (response: AckResponse<AdminRequests[E]['result']>) => void,
  ) => void;
};
