import type { RawData } from 'ws';
import { AppError } from '../common/errors.js';
import { describeShapeProblem, payloadShapeProblem } from '../common/payload-shape.js';
import type { FieldProblem } from '../common/validation.js';
import type { CloseReason } from '../connections/connection.types.js';
import type { HandshakeErrorCode } from '../common/error-codes.js';
import type { SubscriptionScope } from './notifications.events.js';

/** Frame types of the plain-WebSocket door `/ws/events` (docs/protocol.md, Notifications). */
export const EventsFrame = {
  /** client → server `{ eventTypes, scope? }` → `subscribed` with the subscriptions now held. */
  Subscribe: 'subscribe',
  /** client → server `{ eventTypes }` → `unsubscribed` with the subscriptions now held. */
  Unsubscribe: 'unsubscribe',
  /** client → server → `subscriptions`. */
  GetSubscriptions: 'get_subscriptions',
  /** client → server → `pong { pong }` (server time). */
  Ping: 'ping',
  /** client → server `{ token }` → `auth:refreshed { expiresAt }`. */
  Refresh: 'auth:refresh',
  /** server → client, first: `{ userId, sessionId, connectionId, roles, expiresAt }`. */
  Authenticated: 'authenticated',
  Subscribed: 'subscribed',
  Unsubscribed: 'unsubscribed',
  Subscriptions: 'subscriptions',
  Pong: 'pong',
  Refreshed: 'auth:refreshed',
  /** server → client `{ code, message, details? }`: a frame was refused; the connection lives. */
  Error: 'error',
  /** server → client: a published event matching a subscription. */
  Event: 'event',
  /** server → client: a stored notification. */
  Notification: 'notification',
  /** server → client: a live-only message, as its sender typed it. */
  Message: 'message',
  /** server → client `{ id }`: the user read a notification (on any device). */
  NotificationRead: 'notification:read',
  /** server → client `{ read }`: the user read all their notifications. */
  ReadAll: 'notifications:read-all',
  /** server → client `{ reason, since, syncAfterMs }`: live delivery may have dropped frames. */
  SyncRequired: 'sync:required',
  /** server → client `{ message, level }`: the instance is shutting down; reconnect. */
  System: 'system',
} as const;

/** Close codes of the door (RFC 6455 § 7.4.1); the reason is a code in capitals. */
export const EventsCloseCode = {
  /** The instance shuts down: reconnect (to another instance). */
  GoingAway: 1001,
  /** The token or the origin is refused, the session ended, or the client flooded. */
  PolicyViolation: 1008,
  /** A frame over `MAX_PAYLOAD_BYTES` (sent by `ws` itself). */
  MessageTooBig: 1009,
  /** An unexpected failure of the server. */
  InternalError: 1011,
  /** A connection limit or the handshake rate: retry later. */
  TryAgainLater: 1013,
} as const;

/** The close reason of a connection the server ends, by why it ends. */
export const CLOSE_REASON_CODES: Readonly<Record<CloseReason, string>> = {
  expired: 'AUTH_EXPIRED',
  revoked: 'AUTH_REVOKED',
  replaced: 'SESSION_REPLACED',
  flood: 'RATE_LIMITED',
  disconnected: 'DISCONNECTED',
};

/** A refused handshake's close code: capacity refusals may succeed later, the others will not. */
export function handshakeCloseCode(code: HandshakeErrorCode): number {
  return code === 'CONNECTION_LIMIT' || code === 'RATE_LIMITED' || code === 'SERVICE_UNAVAILABLE'
    ? EventsCloseCode.TryAgainLater
    : EventsCloseCode.PolicyViolation;
}

/** A client frame that passed the checks of its shape (the patterns are the router's to check). */
export type ClientFrame =
  | { type: typeof EventsFrame.Subscribe; eventTypes: string[]; scope: SubscriptionScope | undefined }
  | { type: typeof EventsFrame.Unsubscribe; eventTypes: string[] }
  | { type: typeof EventsFrame.GetSubscriptions }
  | { type: typeof EventsFrame.Ping }
  /** The payload is validated where the Socket.IO `auth:refresh` is, by the authenticator. */
  | { type: typeof EventsFrame.Refresh; payload: unknown };

export interface FrameLimits {
  /** `MAX_PAYLOAD_DEPTH`, for the payload (the frame around it adds one level). */
  maxPayloadDepth: number;
  /** `EVENTS_MAX_SUBSCRIPTIONS`: no request may name more patterns than a connection may hold. */
  maxPatterns: number;
}

export const CLIENT_FRAME_TYPES: readonly ClientFrame['type'][] = [
  EventsFrame.Subscribe,
  EventsFrame.Unsubscribe,
  EventsFrame.GetSubscriptions,
  EventsFrame.Ping,
  EventsFrame.Refresh,
];
const FRAME_KEYS: ReadonlySet<string> = new Set(['type', 'payload']);
const SUBSCRIBE_KEYS: ReadonlySet<string> = new Set(['eventTypes', 'scope']);
const UNSUBSCRIBE_KEYS: ReadonlySet<string> = new Set(['eventTypes']);
const SCOPES: readonly string[] = ['own', 'all'] satisfies SubscriptionScope[];
/** The longest part of a refused frame type repeated in the answer. */
const TYPE_ECHO_LIMIT = 100;

const FRAME_SHAPE = 'A frame is a JSON object { type, payload? }';

/**
 * Reads one client frame: JSON text `{ type, payload? }` whose payload fits its type. Anything
 * else throws `VALIDATION_FAILED` naming the field (`type`, `payload`, or a field of the payload
 * as the Socket.IO events name it: `eventTypes`, `scope`), for an `error` frame.
 */
export function parseClientFrame(
  data: RawData,
  isBinary: boolean,
  limits: FrameLimits,
  accepted: readonly ClientFrame['type'][] = CLIENT_FRAME_TYPES,
): ClientFrame {
  if (isBinary) throw invalid('', 'Frames are JSON text, not binary');
  let frame: unknown;
  try {
    frame = JSON.parse(textOf(data));
  } catch {
    throw invalid('', `Not JSON. ${FRAME_SHAPE}`);
  }
  if (!isPlainObject(frame)) throw invalid('', FRAME_SHAPE);
  // The frame wraps the payload in one more level, which the payload's depth does not count.
  const shape = payloadShapeProblem(frame, limits.maxPayloadDepth + 1);
  if (shape) {
    const { message, details } = describeShapeProblem(shape, limits.maxPayloadDepth);
    throw AppError.validation(message, details);
  }
  const unknownKeys = Object.keys(frame).filter((key) => !FRAME_KEYS.has(key));
  if (unknownKeys.length > 0) throw unknownProperties(unknownKeys);
  const { type, payload } = frame;
  if (typeof type !== 'string') throw invalid('type', 'type must be a string');
  if (!(accepted as readonly string[]).includes(type)) {
    throw invalid(
      'type',
      `Unknown frame type ${JSON.stringify(type.slice(0, TYPE_ECHO_LIMIT))}; expected one of ${accepted.join(', ')}`,
    );
  }
  switch (type) {
    case EventsFrame.Subscribe: {
      const request = objectPayload(payload, SUBSCRIBE_KEYS, '{ eventTypes, scope? }');
      const eventTypes = patternList(request.eventTypes, limits.maxPatterns);
      const { scope } = request;
      if (scope !== undefined && (typeof scope !== 'string' || !SCOPES.includes(scope))) {
        throw invalid('scope', `scope must be one of the following values: ${SCOPES.join(', ')}`);
      }
      return { type, eventTypes, scope: scope as SubscriptionScope | undefined };
    }
    case EventsFrame.Unsubscribe: {
      const request = objectPayload(payload, UNSUBSCRIBE_KEYS, '{ eventTypes }');
      return { type, eventTypes: patternList(request.eventTypes, limits.maxPatterns) };
    }
    case EventsFrame.GetSubscriptions:
    case EventsFrame.Ping:
      // They take no input, as on Socket.IO: whatever payload comes is not read.
      return { type };
    case EventsFrame.Refresh:
      return { type, payload };
    default:
      throw invalid(
        'type',
        `Unknown frame type ${JSON.stringify(type.slice(0, TYPE_ECHO_LIMIT))}; expected one of ${accepted.join(', ')}`,
      );
  }
}

function objectPayload(
  payload: unknown,
  allowed: ReadonlySet<string>,
  expected: string,
): Record<string, unknown> {
  if (!isPlainObject(payload)) throw invalid('payload', `payload must be an object: ${expected}`);
  const unknownKeys = Object.keys(payload).filter((key) => !allowed.has(key));
  if (unknownKeys.length > 0) throw unknownProperties(unknownKeys);
  return payload;
}

/** A non-empty list of strings, no longer than a connection may hold. */
function patternList(value: unknown, maxPatterns: number): string[] {
  const field = 'eventTypes';
  if (!Array.isArray(value)) throw invalid(field, 'eventTypes must be an array of patterns');
  if (value.length === 0) throw invalid(field, 'eventTypes should not be empty');
  if (value.length > maxPatterns) {
    throw invalid(field, `at most ${maxPatterns} subscriptions per connection`);
  }
  if (!value.every((pattern): pattern is string => typeof pattern === 'string')) {
    throw invalid(field, 'each value in eventTypes must be a string');
  }
  return value;
}

function unknownProperties(keys: string[]): AppError {
  const details: FieldProblem[] = keys.slice(0, 10).map((key) => ({
    field: key.slice(0, TYPE_ECHO_LIMIT),
    problems: [`property ${key.slice(0, TYPE_ECHO_LIMIT)} should not exist`],
  }));
  return AppError.validation(details.map((detail) => detail.problems[0]).join('; '), details);
}

function invalid(field: string, problem: string): AppError {
  return AppError.validation(field ? `${field}: ${problem}` : problem, [{ field, problems: [problem] }]);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
