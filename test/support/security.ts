import { createHmac } from 'node:crypto';
import { ADMIN_NAMESPACE, AdminEvent } from '../../src/admin/admin.events.js';
import { AuthEvent } from '../../src/auth/auth.events.js';
import { CHAT_NAMESPACE, ChatEvent } from '../../src/chat/chat.events.js';
import type {
  AdminClientEvents,
  ChatClientEvents,
  NotificationsClientEvents,
  PresenceClientEvents,
  SessionsClientEvents,
} from '../../src/contracts/index.js';
import { NOTIFICATIONS_NAMESPACE, NotificationsEvent } from '../../src/notifications/notifications.events.js';
import { PRESENCE_NAMESPACE, PresenceEvent, PresenceLimits } from '../../src/presence/presence.events.js';
import { SessionsEvent } from '../../src/sessions/sessions.events.js';

/** Base64url of a JSON value, or of text given as is. */
export function base64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');
}

/**
 * A JWT signed with HMAC-SHA256 over exactly the header and claims given, so that claims a JWT
 * library would refuse to sign (`exp: 1e300`, `exp: "soon"`, no `exp`) can still be sent.
 */
export function signHs256(
  claims: Record<string, unknown>,
  secret: string | Buffer,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const signingInput = `${base64url(header)}.${base64url(claims)}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** An unsigned token (`alg` of the caller's choice, empty signature). */
export function unsignedToken(claims: Record<string, unknown>, alg: string): string {
  return `${base64url({ alg, typ: 'JWT' })}.${base64url(claims)}.`;
}

export const nowS = (): number => Math.floor(Date.now() / 1000);

/** JSON text nested `depth` levels deep: `{"a":{"a":…1…}}` or `[[…]]`. */
export function deepJson(depth: number, kind: 'object' | 'array'): string {
  return kind === 'object'
    ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    : `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** A value nested `depth` levels deep, built by the JSON parser (no recursion on our side). */
export function deepValue(depth: number, kind: 'object' | 'array'): unknown {
  return JSON.parse(deepJson(depth, kind));
}

/**
 * `base` with one more own key given as raw JSON. `{ "__proto__": … }` written in code sets the
 * prototype instead; parsed from JSON it is a real own key, exactly as a hostile client sends it.
 */
export function withRawKey(base: Record<string, unknown>, key: string, valueJson: string): unknown {
  const rest = JSON.stringify(base).slice(1);
  return JSON.parse(`{${JSON.stringify(key)}:${valueJson}${rest === '}' ? '}' : `,${rest}`}`);
}

export const PROTOTYPE_KEYS: readonly { key: string; valueJson: string }[] = [
  { key: '__proto__', valueJson: '{"admin":true,"roles":["admin"]}' },
  { key: 'constructor', valueJson: '{"prototype":{"admin":true}}' },
  { key: 'prototype', valueJson: '{"admin":true}' },
];

export const HUGE_STRING = 'x'.repeat(200 * 1024);
export const DEEP_NESTING = 3000;

/* ------------------------------------------------------------------------------------------ */
/* Client → server events of every namespace                                                  */
/* ------------------------------------------------------------------------------------------ */

/** What the matrix of malformed payloads needs from the running app. */
export interface MatrixFixture {
  chatId: string;
  /** A message of the chat, sent by the matrix's own user. */
  messageId: number;
  /** A valid token of the matrix's own user, with the same roles as its sockets. */
  refreshToken: string;
  /** Another user, who shares the chat with the matrix's own user. */
  peerId: string;
  /** A notification in the matrix user's own inbox. */
  notificationId: number;
}

export interface FieldSpec {
  /** `string[]`: a list of non-empty strings (user ids, event patterns), at most `maxItems` of them. */
  type: 'string' | 'integer' | 'boolean' | 'string[]';
  required: boolean;
  /** The most items a `string[]` field takes; `PresenceLimits.maxIdsPerCall` unless given. */
  maxItems?: number;
}

/** More items than a `string[]` field takes. */
export function tooManyItems(spec: FieldSpec): { label: string; value: string[] } {
  const length = (spec.maxItems ?? PresenceLimits.maxIdsPerCall) + 1;
  return {
    label: `an array of ${length} ids`,
    value: Array.from({ length }, (_, index) => `user-${index}`),
  };
}

/** `SubscribeDto` and `UnsubscribeDto` take at most this many patterns per call. */
const MAX_PATTERNS_PER_CALL = 1000;

/**
 * How an event treats what it is sent:
 * - `validated`: the payload is checked; anything malformed is `VALIDATION_FAILED`.
 * - `optional`: as `validated`, but no payload (or `null`) is a valid request and answers ok.
 * - `ignored`: the payload is never read, so an ok answer is as correct as `VALIDATION_FAILED`;
 *   what must never happen is `INTERNAL` or losing the connection.
 */
export type InputHandling = 'validated' | 'optional' | 'ignored';

export interface EventSpec {
  input: InputHandling;
  /** Why the expectation is what it is. */
  why: string;
  fields: Readonly<Record<string, FieldSpec>>;
  /** A payload the event accepts, for the cases that spoil exactly one thing of it. */
  valid: (fixture: MatrixFixture) => Record<string, unknown>;
}

const refresh: EventSpec = {
  input: 'validated',
  why: '{ token } is required; anything else is VALIDATION_FAILED before the token is looked at',
  fields: { token: { type: 'string', required: true } },
  valid: (fixture) => ({ token: fixture.refreshToken }),
};

/**
 * Every client → server event of every namespace. The `satisfies` clause ties each namespace to
 * its contract: an event added to the contracts fails type-checking until it has a row here.
 */
export const CLIENT_EVENT_TABLE = {
  '/': {
    [AuthEvent.Refresh]: refresh,
    [AuthEvent.Whoami]: {
      input: 'ignored',
      why: 'takes no input: it answers who the connection is, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
    [SessionsEvent.Count]: {
      input: 'ignored',
      why: 'takes no input: it only counts sessions, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
    [SessionsEvent.List]: {
      input: 'optional',
      why: '{ page?, limit? }: no payload or null lists the first page; anything else must be a valid query',
      fields: { page: { type: 'integer', required: false }, limit: { type: 'integer', required: false } },
      valid: () => ({ page: 1, limit: 10 }),
    },
    [SessionsEvent.Ping]: {
      input: 'ignored',
      why: 'takes no input: it answers the server time, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
  },
  [CHAT_NAMESPACE]: {
    [AuthEvent.Refresh]: refresh,
    [ChatEvent.SendMessage]: {
      input: 'validated',
      why: '{ chatId, content, clientId? }',
      fields: {
        chatId: { type: 'string', required: true },
        content: { type: 'string', required: true },
        clientId: { type: 'string', required: false },
      },
      valid: (fixture) => ({ chatId: fixture.chatId, content: 'must never be stored' }),
    },
    [ChatEvent.EditMessage]: {
      input: 'validated',
      why: '{ messageId, content }',
      fields: { messageId: { type: 'integer', required: true }, content: { type: 'string', required: true } },
      valid: (fixture) => ({ messageId: fixture.messageId, content: 'must never be stored' }),
    },
    [ChatEvent.DeleteMessage]: {
      input: 'validated',
      why: '{ messageId }',
      fields: { messageId: { type: 'integer', required: true } },
      valid: (fixture) => ({ messageId: fixture.messageId }),
    },
    [ChatEvent.Read]: {
      input: 'validated',
      why: '{ chatId, messageId }',
      fields: { chatId: { type: 'string', required: true }, messageId: { type: 'integer', required: true } },
      valid: (fixture) => ({ chatId: fixture.chatId, messageId: fixture.messageId }),
    },
    [ChatEvent.Typing]: {
      input: 'validated',
      why: '{ chatId }',
      fields: { chatId: { type: 'string', required: true } },
      valid: (fixture) => ({ chatId: fixture.chatId }),
    },
    [ChatEvent.StopTyping]: {
      input: 'validated',
      why: '{ chatId }',
      fields: { chatId: { type: 'string', required: true } },
      valid: (fixture) => ({ chatId: fixture.chatId }),
    },
    [ChatEvent.Sync]: {
      input: 'validated',
      why: '{ chatId, afterSeq? | afterMessageId?, since?, limit? }',
      fields: {
        chatId: { type: 'string', required: true },
        afterSeq: { type: 'integer', required: false },
        afterMessageId: { type: 'integer', required: false },
        since: { type: 'string', required: false },
        limit: { type: 'integer', required: false },
      },
      valid: (fixture) => ({
        chatId: fixture.chatId,
        afterSeq: 0,
        since: '2030-01-01T00:00:00.000Z',
        limit: 10,
      }),
    },
  },
  [PRESENCE_NAMESPACE]: {
    [AuthEvent.Refresh]: refresh,
    [PresenceEvent.Set]: {
      input: 'validated',
      why: '{ status }: online, away, busy or invisible; offline is never chosen',
      fields: { status: { type: 'string', required: true } },
      valid: () => ({ status: 'away' }),
    },
    [PresenceEvent.Subscribe]: {
      input: 'validated',
      why: `{ userIds }: at most ${PresenceLimits.maxIdsPerCall} non-empty strings`,
      fields: { userIds: { type: 'string[]', required: true } },
      valid: (fixture) => ({ userIds: [fixture.peerId] }),
    },
    [PresenceEvent.Unsubscribe]: {
      input: 'validated',
      why: `{ userIds }: at most ${PresenceLimits.maxIdsPerCall} non-empty strings`,
      fields: { userIds: { type: 'string[]', required: true } },
      valid: (fixture) => ({ userIds: [fixture.peerId] }),
    },
    [PresenceEvent.Query]: {
      input: 'validated',
      why: `{ userIds }: at most ${PresenceLimits.maxIdsPerCall} non-empty strings`,
      fields: { userIds: { type: 'string[]', required: true } },
      valid: (fixture) => ({ userIds: [fixture.peerId] }),
    },
  },
  [NOTIFICATIONS_NAMESPACE]: {
    [AuthEvent.Refresh]: refresh,
    [NotificationsEvent.Subscribe]: {
      input: 'validated',
      why: `{ eventTypes, scope? }: at most ${MAX_PATTERNS_PER_CALL} patterns; scope own or all`,
      fields: {
        eventTypes: { type: 'string[]', required: true, maxItems: MAX_PATTERNS_PER_CALL },
        scope: { type: 'string', required: false },
      },
      valid: () => ({ eventTypes: ['security.*'], scope: 'own' }),
    },
    [NotificationsEvent.Unsubscribe]: {
      input: 'validated',
      why: `{ eventTypes }: at most ${MAX_PATTERNS_PER_CALL} patterns`,
      fields: { eventTypes: { type: 'string[]', required: true, maxItems: MAX_PATTERNS_PER_CALL } },
      valid: () => ({ eventTypes: ['security.*'] }),
    },
    [NotificationsEvent.GetSubscriptions]: {
      input: 'ignored',
      why: 'takes no input: it answers the subscriptions held, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
    [NotificationsEvent.Ping]: {
      input: 'ignored',
      why: 'takes no input: it answers the server time, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
    [NotificationsEvent.List]: {
      input: 'optional',
      why: '{ unreadOnly?, before?, limit? }: no payload or null lists the newest page',
      fields: {
        unreadOnly: { type: 'boolean', required: false },
        before: { type: 'integer', required: false },
        limit: { type: 'integer', required: false },
      },
      valid: (fixture) => ({ unreadOnly: false, before: fixture.notificationId + 1, limit: 10 }),
    },
    [NotificationsEvent.Read]: {
      input: 'validated',
      why: '{ id }: a positive integer',
      fields: { id: { type: 'integer', required: true } },
      valid: (fixture) => ({ id: fixture.notificationId }),
    },
    [NotificationsEvent.ReadAll]: {
      input: 'ignored',
      why: "takes no input: it marks the caller's whole inbox read, whatever it is sent",
      fields: {},
      valid: () => ({}),
    },
    [NotificationsEvent.Sync]: {
      input: 'validated',
      why: '{ afterId, limit? }: afterId 0 or more',
      fields: {
        afterId: { type: 'integer', required: true },
        limit: { type: 'integer', required: false },
      },
      valid: () => ({ afterId: 0, limit: 10 }),
    },
  },
  // The valid payloads name nobody real: even accepted, they would touch no one.
  [ADMIN_NAMESPACE]: {
    [AuthEvent.Refresh]: refresh,
    [AdminEvent.GetStats]: {
      input: 'ignored',
      why: 'takes no input: it answers the stats, whatever it is sent',
      fields: {},
      valid: () => ({}),
    },
    [AdminEvent.DisconnectUser]: {
      input: 'validated',
      why: '{ userId, reason?, revoke? }',
      fields: {
        userId: { type: 'string', required: true },
        reason: { type: 'string', required: false },
        revoke: { type: 'boolean', required: false },
      },
      valid: () => ({ userId: 'matrix-nobody', reason: 'must never be audited', revoke: false }),
    },
    [AdminEvent.Broadcast]: {
      input: 'validated',
      why: '{ level, title?, message }: level info, success, warning, error or critical',
      fields: {
        level: { type: 'string', required: true },
        title: { type: 'string', required: false },
        message: { type: 'string', required: true },
      },
      valid: () => ({ level: 'info', title: 'never', message: 'must never be broadcast' }),
    },
    [AdminEvent.RevokeSession]: {
      input: 'validated',
      why: '{ sessionId }',
      fields: { sessionId: { type: 'string', required: true } },
      valid: () => ({ sessionId: 'matrix-no-such-session' }),
    },
  },
} as const satisfies {
  '/': Record<keyof SessionsClientEvents, EventSpec>;
  [CHAT_NAMESPACE]: Record<keyof ChatClientEvents, EventSpec>;
  [PRESENCE_NAMESPACE]: Record<keyof PresenceClientEvents, EventSpec>;
  [NOTIFICATIONS_NAMESPACE]: Record<keyof NotificationsClientEvents, EventSpec>;
  [ADMIN_NAMESPACE]: Record<keyof AdminClientEvents, EventSpec>;
};

export type MatrixNamespace = keyof typeof CLIENT_EVENT_TABLE;

export interface EventRow extends EventSpec {
  namespace: MatrixNamespace;
  event: string;
}

/** `CLIENT_EVENT_TABLE` as one row per namespace and event. */
export const CLIENT_EVENTS: readonly EventRow[] = (
  Object.entries(CLIENT_EVENT_TABLE) as [MatrixNamespace, Record<string, EventSpec>][]
).flatMap(([namespace, events]) =>
  Object.entries(events).map(([event, spec]) => ({ namespace, event, ...spec })),
);

export interface MalformedCase {
  name: string;
  /** The arguments after the event name (none for "no payload"). */
  args: (fixture: MatrixFixture) => unknown[];
  /** "No payload" and `null`, which an `optional` event accepts. */
  empty?: boolean;
}

/** What a case must answer on an event: `ok`, `VALIDATION_FAILED`, or either (input ignored). */
export type Expectation = 'ok' | 'VALIDATION_FAILED' | 'ok or VALIDATION_FAILED';

export function expectationFor(row: EventSpec, testCase: MalformedCase): Expectation {
  if (row.input === 'ignored') return 'ok or VALIDATION_FAILED';
  if (row.input === 'optional' && testCase.empty) return 'ok';
  return 'VALIDATION_FAILED';
}

const STRING_LIST_WRONG_VALUES: readonly { label: string; value: unknown }[] = [
  { label: 'a string', value: 'alice' },
  { label: 'a number', value: 42 },
  { label: 'an operator object', value: { $ne: null } },
  { label: 'an array holding a number', value: ['alice', 42] },
  { label: 'an array holding an operator object', value: [{ $ne: null }] },
  { label: 'an array holding an array', value: [['alice']] },
  { label: 'an array holding null', value: [null] },
  { label: 'an array holding an empty string', value: [''] },
  { label: 'an array holding a 200 KB string', value: [HUGE_STRING] },
];

const WRONG_VALUES: Record<FieldSpec['type'], readonly { label: string; value: unknown }[]> = {
  string: [
    { label: 'a number', value: 42 },
    { label: 'a boolean', value: true },
    { label: 'an operator object', value: { $ne: null } },
    { label: 'an array', value: ['a', 'b'] },
  ],
  integer: [
    { label: 'a word', value: 'one' },
    { label: 'a fraction', value: 1.5 },
    { label: 'a negative number', value: -1 },
    { label: 'an operator object', value: { $gt: 0 } },
    { label: 'an array', value: [1, 2] },
  ],
  boolean: [
    { label: 'a string', value: 'true' },
    { label: 'a number', value: 1 },
    { label: 'an operator object', value: { $ne: null } },
    { label: 'an array', value: [true] },
  ],
  'string[]': STRING_LIST_WRONG_VALUES,
};

/** The wrong values of a field: those of its type, and too many items for a list. */
function wrongValuesOf(spec: FieldSpec): readonly { label: string; value: unknown }[] {
  return spec.type === 'string[]'
    ? [...WRONG_VALUES[spec.type], tooManyItems(spec)]
    : WRONG_VALUES[spec.type];
}

/** Every malformed variant of an event's payload, derived from its fields and valid payload. */
export function malformedPayloads(row: EventSpec): MalformedCase[] {
  const fields = Object.entries(row.fields);
  const without = (fixture: MatrixFixture, field: string) => {
    const payload = row.valid(fixture);
    delete payload[field];
    return payload;
  };
  const cases: MalformedCase[] = [
    { name: 'no payload', args: () => [], empty: true },
    { name: 'null', args: () => [null], empty: true },
    { name: 'a number', args: () => [42] },
    { name: 'a string', args: () => ['payload'] },
    { name: 'a boolean', args: () => [true] },
    { name: 'an array holding a valid payload', args: (fixture) => [[row.valid(fixture)]] },
    { name: 'two payload arguments', args: (fixture) => [row.valid(fixture), row.valid(fixture)] },
    { name: 'a 200 KB string as the payload', args: () => [HUGE_STRING] },
  ];
  for (const [field, spec] of fields) {
    for (const { label, value } of wrongValuesOf(spec)) {
      cases.push({
        name: `${field} as ${label}`,
        args: (fixture) => [{ ...row.valid(fixture), [field]: value }],
      });
    }
    cases.push({
      name: `${field} as a 200 KB string`,
      args: (fixture) => [{ ...row.valid(fixture), [field]: HUGE_STRING }],
    });
    if (spec.required) {
      cases.push({ name: `${field} missing`, args: (fixture) => [without(fixture, field)] });
      cases.push({ name: `${field} null`, args: (fixture) => [{ ...row.valid(fixture), [field]: null }] });
    }
  }
  cases.push(
    { name: 'an unknown extra field', args: (fixture) => [{ ...row.valid(fixture), unexpected: true }] },
    {
      name: 'an unknown field holding a 200 KB string',
      args: (fixture) => [{ ...row.valid(fixture), padding: HUGE_STRING }],
    },
    {
      name: 'only {"__proto__": {"admin": true}}',
      args: () => [JSON.parse('{"__proto__":{"admin":true}}') as unknown],
    },
  );
  for (const { key, valueJson } of PROTOTYPE_KEYS) {
    cases.push({
      name: `a "${key}" key beside valid fields`,
      args: (fixture) => [withRawKey(row.valid(fixture), key, valueJson)],
    });
  }
  cases.push(
    {
      name: `objects nested ${DEEP_NESTING} levels as the payload`,
      args: () => [deepValue(DEEP_NESTING, 'object')],
    },
    {
      name: `arrays nested ${DEEP_NESTING} levels as the payload`,
      args: () => [deepValue(DEEP_NESTING, 'array')],
    },
    {
      name: `a field nested ${DEEP_NESTING} levels beside valid fields`,
      args: (fixture) => [
        { ...row.valid(fixture), [fields[0]?.[0] ?? 'nested']: deepValue(DEEP_NESTING, 'object') },
      ],
    },
  );
  return cases;
}

/* ------------------------------------------------------------------------------------------ */
/* Events no handler of a namespace takes                                                     */
/* ------------------------------------------------------------------------------------------ */

export interface UnknownEvent {
  name: string;
  /** What the client sends as the event name; Socket.IO's parser also admits a number. */
  event: string | number;
}

/**
 * Names no gateway handler and no listener of `namespace` takes: answered `NOT_FOUND` through
 * an ack and ignored without one. Among them a client → server event of the other namespace, a
 * server → client event, and names an object lookup would find on `Object.prototype`.
 */
export function unknownEvents(namespace: MatrixNamespace): UnknownEvent[] {
  const otherNamespace = namespace === '/' ? ChatEvent.SendMessage : SessionsEvent.List;
  return [
    { name: 'a made-up name', event: 'no:such:event' },
    { name: `"${otherNamespace}", an event of the other namespace`, event: otherNamespace },
    { name: `"${AuthEvent.Authenticated}", a server → client event`, event: AuthEvent.Authenticated },
    { name: '"__proto__"', event: '__proto__' },
    { name: '"constructor"', event: 'constructor' },
    { name: '"hasOwnProperty"', event: 'hasOwnProperty' },
    { name: 'an empty name', event: '' },
    { name: 'a number as the name', event: 42 },
    { name: 'a 10 KB name', event: 'e'.repeat(10 * 1024) },
  ];
}
