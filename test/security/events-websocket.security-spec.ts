import WebSocket from 'ws';
import { startApp, TEST_SECRET, type RunningApp } from '../support/app.js';
import { closeClients, EventsClient } from '../support/events-websocket-client.js';
import { DEEP_NESTING, deepJson, HUGE_STRING, signHs256, nowS, withRawKey } from '../support/security.js';
import { signToken } from '../support/tokens.js';

type ErrorPayload = { code: string; message: string; details?: { field: string; problems: string[] }[] };

const MAX_SUBSCRIPTIONS = 100;
const many = (count: number, prefix = 'p') =>
  Array.from({ length: count }, (_, index) => `${prefix}${index}`);

/**
 * Frames the door refuses with `VALIDATION_FAILED`, as raw text: each gets an `error` frame,
 * changes nothing, and the connection goes on answering.
 */
const MALFORMED: readonly (readonly [string, string])[] = [
  // Not a frame at all.
  ['not JSON', 'hello'],
  ['truncated JSON', '{"type":"ping"'],
  ['an empty frame', ''],
  ['whitespace', '   '],
  ['null', 'null'],
  ['a number', '42'],
  ['a string', '"ping"'],
  ['an array', '[{"type":"ping"}]'],
  ['true', 'true'],
  // The envelope.
  ['no type', '{"payload":{}}'],
  ['a numeric type', '{"type":7}'],
  ['a null type', '{"type":null}'],
  ['an object type', '{"type":{"name":"ping"}}'],
  ['an unknown type', '{"type":"nope"}'],
  ['a type in other case', '{"type":"SUBSCRIBE","payload":{"eventTypes":["a"]}}'],
  ['a Socket.IO-only event', '{"type":"notifications:list"}'],
  ['a huge type', JSON.stringify({ type: HUGE_STRING })],
  ['an unknown top-level key', '{"type":"ping","id":1}'],
  ['a __proto__ key', JSON.stringify(withRawKey({ type: 'ping' }, '__proto__', '{"admin":true}'))],
  ['a constructor key', JSON.stringify(withRawKey({ type: 'ping' }, 'constructor', '{"prototype":{}}'))],
  // subscribe
  ['subscribe without payload', '{"type":"subscribe"}'],
  ['subscribe with a null payload', '{"type":"subscribe","payload":null}'],
  ['subscribe with a string payload', '{"type":"subscribe","payload":"security.*"}'],
  ['subscribe with an array payload', '{"type":"subscribe","payload":["security.*"]}'],
  ['subscribe with an empty object', '{"type":"subscribe","payload":{}}'],
  ['subscribe with a string eventTypes', '{"type":"subscribe","payload":{"eventTypes":"security.*"}}'],
  ['subscribe with no patterns', '{"type":"subscribe","payload":{"eventTypes":[]}}'],
  ['subscribe with a number pattern', '{"type":"subscribe","payload":{"eventTypes":[1]}}'],
  ['subscribe with a null pattern', '{"type":"subscribe","payload":{"eventTypes":[null]}}'],
  ['subscribe with a nested pattern', '{"type":"subscribe","payload":{"eventTypes":[["a"]]}}'],
  [
    'subscribe with an unknown scope',
    '{"type":"subscribe","payload":{"eventTypes":["a"],"scope":"everything"}}',
  ],
  ['subscribe with a numeric scope', '{"type":"subscribe","payload":{"eventTypes":["a"],"scope":1}}'],
  ['subscribe with an unknown key', '{"type":"subscribe","payload":{"eventTypes":["a"],"admin":true}}'],
  [
    'subscribe with a __proto__ key in the payload',
    JSON.stringify({
      type: 'subscribe',
      payload: withRawKey({ eventTypes: ['a'] }, '__proto__', '{"isAdmin":true}'),
    }),
  ],
  ['a double wildcard', '{"type":"subscribe","payload":{"eventTypes":["security.**"]}}'],
  ['an inner wildcard', '{"type":"subscribe","payload":{"eventTypes":["a.*.b"]}}'],
  ['a leading wildcard', '{"type":"subscribe","payload":{"eventTypes":["*.a"]}}'],
  ['a partial wildcard', '{"type":"subscribe","payload":{"eventTypes":["secur*"]}}'],
  ['an empty segment', '{"type":"subscribe","payload":{"eventTypes":["a..b"]}}'],
  ['an empty pattern', '{"type":"subscribe","payload":{"eventTypes":[""]}}'],
  ['a space in a pattern', '{"type":"subscribe","payload":{"eventTypes":["security rate"]}}'],
  ['one invalid pattern among valid ones', '{"type":"subscribe","payload":{"eventTypes":["a.*","b c"]}}'],
  ['a huge pattern', JSON.stringify({ type: 'subscribe', payload: { eventTypes: [HUGE_STRING] } })],
  ['too many segments', JSON.stringify({ type: 'subscribe', payload: { eventTypes: [many(9).join('.')] } })],
  [
    'more patterns than a connection may hold',
    JSON.stringify({ type: 'subscribe', payload: { eventTypes: many(MAX_SUBSCRIPTIONS + 1) } }),
  ],
  // unsubscribe
  ['unsubscribe without payload', '{"type":"unsubscribe"}'],
  ['unsubscribe with a string eventTypes', '{"type":"unsubscribe","payload":{"eventTypes":"a"}}'],
  ['unsubscribe with a scope', '{"type":"unsubscribe","payload":{"eventTypes":["a"],"scope":"all"}}'],
  ['unsubscribe with a number pattern', '{"type":"unsubscribe","payload":{"eventTypes":[1]}}'],
  // auth:refresh
  ['auth:refresh without payload', '{"type":"auth:refresh"}'],
  ['auth:refresh with a null payload', '{"type":"auth:refresh","payload":null}'],
  ['auth:refresh with a string payload', '{"type":"auth:refresh","payload":"token"}'],
  ['auth:refresh without token', '{"type":"auth:refresh","payload":{}}'],
  ['auth:refresh with a numeric token', '{"type":"auth:refresh","payload":{"token":1}}'],
  ['auth:refresh with an empty token', '{"type":"auth:refresh","payload":{"token":""}}'],
  ['auth:refresh with an unknown key', '{"type":"auth:refresh","payload":{"token":"x","sub":"root"}}'],
  [
    'auth:refresh with a huge token',
    JSON.stringify({ type: 'auth:refresh', payload: { token: HUGE_STRING } }),
  ],
  // Shapes no handler should walk.
  ['a payload nested too deep', `{"type":"subscribe","payload":${deepJson(40, 'object')}}`],
  ['arrays nested very deep', `{"type":"ping","payload":${deepJson(DEEP_NESTING, 'array')}}`],
  ['objects nested very deep', `{"type":"auth:refresh","payload":${deepJson(DEEP_NESTING, 'object')}}`],
];

describe('plain-WebSocket door /ws/events: malformed frames (security)', () => {
  let running: RunningApp;
  const clients: EventsClient[] = [];

  beforeAll(async () => {
    running = await startApp({ RATE_LIMIT_HANDSHAKES_PER_MIN: '0', RATE_LIMIT_EVENTS_PER_S: '0' });
  });
  afterEach(() => closeClients(clients));
  afterAll(() => running.close());

  /** A connection of a plain user holding one subscription. */
  const subscribedClient = async () => {
    const { client } = await EventsClient.open(running.port, { query: signToken({ sub: 'mallory' }) });
    clients.push(client);
    expect((await client.request('subscribe', { eventTypes: ['security.*'] })).type).toBe('subscribed');
    return client;
  };
  const expectUnchanged = async (client: EventsClient) => {
    expect(await client.request('get_subscriptions')).toEqual({
      type: 'subscriptions',
      payload: { eventTypes: ['security.*'], scope: 'own' },
    });
    expect((await client.request('ping')).type).toBe('pong');
  };

  it.each(MALFORMED)('answers %s with VALIDATION_FAILED; the connection lives', async (_case, text) => {
    const client = await subscribedClient();
    client.send(text);
    const answer = await client.next<ErrorPayload>();
    expect(answer.type).toBe('error');
    expect(answer.payload).toEqual({
      code: 'VALIDATION_FAILED',
      message: expect.any(String),
      ...(answer.payload.details === undefined ? {} : { details: expect.any(Array) }),
    });
    // Nothing of a hostile frame is echoed back in full.
    expect(JSON.stringify(answer).length).toBeLessThan(4096);
    await expectUnchanged(client);
  });

  it('answers a binary frame with VALIDATION_FAILED; the connection lives', async () => {
    const client = await subscribedClient();
    client.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
    expect(await client.next<ErrorPayload>('error')).toMatchObject({
      payload: { code: 'VALIDATION_FAILED' },
    });
    await expectUnchanged(client);
  });

  it('answers patterns past EVENTS_MAX_SUBSCRIPTIONS held in all with VALIDATION_FAILED, keeping the first ones', async () => {
    const client = await subscribedClient();
    const first = many(MAX_SUBSCRIPTIONS - 1);
    const held = await client.request<{ eventTypes: string[] }>('subscribe', { eventTypes: first });
    expect(held.payload.eventTypes).toHaveLength(MAX_SUBSCRIPTIONS);
    const over = await client.request<ErrorPayload>('subscribe', { eventTypes: ['one.more'] });
    expect(over).toEqual({
      type: 'error',
      payload: {
        code: 'VALIDATION_FAILED',
        message: `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
        details: [
          { field: 'eventTypes', problems: [`at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`] },
        ],
      },
    });
    const after = await client.request<{ eventTypes: string[] }>('get_subscriptions');
    expect(after.payload.eventTypes).toHaveLength(MAX_SUBSCRIPTIONS);
    expect(after.payload.eventTypes).not.toContain('one.more');
  });

  it('names the field of an invalid pattern', async () => {
    const client = await subscribedClient();
    const answer = await client.request<ErrorPayload>('subscribe', { eventTypes: ['ok.*', 'not ok'] });
    expect(answer.payload).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ field: 'eventTypes', problems: [expect.stringContaining('not ok')] }],
    });
  });

  it('refuses forged and unsigned refresh tokens without moving the expiry', async () => {
    const client = await subscribedClient();
    for (const token of [
      signHs256({ sub: 'mallory', exp: nowS() + 3600 }, 'wrong-secret'),
      signHs256({ sub: 'mallory', exp: nowS() + 3600 }, TEST_SECRET, { alg: 'none', typ: 'JWT' }),
      signHs256({ sub: 'mallory' }, TEST_SECRET),
    ]) {
      const answer = await client.request<ErrorPayload>('auth:refresh', { token });
      expect(answer.payload).toMatchObject({ code: 'UNAUTHORIZED', details: { code: 'AUTH_INVALID' } });
    }
    await expectUnchanged(client);
  });

  it('closes a text frame that is not UTF-8 with 1007, as the WebSocket protocol requires', async () => {
    const client = await subscribedClient();
    client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await client.closed).code).toBe(1007);
  });

  it('never reads a frame before the token is admitted: a refused upgrade closes without an answer', async () => {
    const outcome = await EventsClient.connect(running.port, {});
    if (outcome.kind !== 'open') throw new Error(JSON.stringify(outcome));
    if (outcome.client.ws.readyState === WebSocket.OPEN) outcome.client.send({ type: 'ping' });
    expect(await outcome.client.closed).toEqual({ code: 1008, reason: 'AUTH_MISSING' });
    expect(outcome.client.received()).toEqual([]);
  });

  it('keeps admin-only scope from a plain user whatever the frame claims', async () => {
    const client = await subscribedClient();
    const answer = await client.request<ErrorPayload>('subscribe', { eventTypes: ['*'], scope: 'all' });
    expect(answer.payload.code).toBe('FORBIDDEN');
    await expectUnchanged(client);
  });
});
