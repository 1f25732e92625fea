import { AppError } from '../common/errors.js';
import { handshakeCloseCode, parseClientFrame, type FrameLimits } from './events-websocket.frames.js';

const limits: FrameLimits = { maxPayloadDepth: 4, maxPatterns: 3 };
const parse = (frame: unknown, isBinary = false) =>
  parseClientFrame(Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), isBinary, limits);

function refusal(frame: unknown, isBinary = false): { message: string; details: unknown } {
  try {
    parse(frame, isBinary);
  } catch (error) {
    if (error instanceof AppError && error.code === 'VALIDATION_FAILED') {
      return { message: error.message, details: error.details };
    }
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(frame)}`);
}

describe('parseClientFrame', () => {
  it('reads the frames of the door', () => {
    expect(parse({ type: 'subscribe', payload: { eventTypes: ['security.*'] } })).toEqual({
      type: 'subscribe',
      eventTypes: ['security.*'],
      scope: undefined,
    });
    expect(parse({ type: 'subscribe', payload: { eventTypes: ['*'], scope: 'all' } })).toMatchObject({
      scope: 'all',
    });
    expect(parse({ type: 'unsubscribe', payload: { eventTypes: ['a'] } })).toEqual({
      type: 'unsubscribe',
      eventTypes: ['a'],
    });
    expect(parse({ type: 'get_subscriptions' })).toEqual({ type: 'get_subscriptions' });
    expect(parse({ type: 'ping', payload: { anything: 1 } })).toEqual({ type: 'ping' });
    expect(parse({ type: 'auth:refresh', payload: { token: 't' } })).toEqual({
      type: 'auth:refresh',
      payload: { token: 't' },
    });
  });

  it.each([
    ['binary', '{"type":"ping"}', true, ''],
    ['not JSON', '{', false, ''],
    ['an array', '[]', false, ''],
    ['no type', { payload: {} }, false, 'type'],
    ['an unknown type', { type: 'nope' }, false, 'type'],
    ['an unknown key', { type: 'ping', extra: 1 }, false, 'extra'],
    ['no payload', { type: 'subscribe' }, false, 'payload'],
    ['no patterns', { type: 'subscribe', payload: { eventTypes: [] } }, false, 'eventTypes'],
    [
      'too many patterns',
      { type: 'subscribe', payload: { eventTypes: ['a', 'b', 'c', 'd'] } },
      false,
      'eventTypes',
    ],
    ['a number pattern', { type: 'unsubscribe', payload: { eventTypes: [1] } }, false, 'eventTypes'],
    ['a bad scope', { type: 'subscribe', payload: { eventTypes: ['a'], scope: 'x' } }, false, 'scope'],
    ['an unknown payload key', { type: 'subscribe', payload: { eventTypes: ['a'], x: 1 } }, false, 'x'],
    ['a payload too deep', { type: 'ping', payload: [[[[[1]]]]] }, false, ''],
  ])('refuses %s, naming the field', (_case, frame, isBinary, field) => {
    const { details } = refusal(frame, isBinary);
    expect(details).toEqual([{ field, problems: [expect.any(String)] }]);
  });

  it('accepts a payload exactly as deep as allowed', () => {
    expect(parse({ type: 'ping', payload: [[[[1]]]] })).toEqual({ type: 'ping' });
  });

  it('does not echo a huge type back', () => {
    expect(refusal({ type: 'x'.repeat(100_000) }).message.length).toBeLessThan(400);
  });
});

describe('handshakeCloseCode', () => {
  it('closes refused tokens with 1008 and capacity refusals with 1013', () => {
    expect(
      ['AUTH_MISSING', 'AUTH_INVALID', 'AUTH_EXPIRED', 'AUTH_REVOKED', 'FORBIDDEN'].map((code) =>
        handshakeCloseCode(code as never),
      ),
    ).toEqual([1008, 1008, 1008, 1008, 1008]);
    expect(
      ['CONNECTION_LIMIT', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE'].map((code) =>
        handshakeCloseCode(code as never),
      ),
    ).toEqual([1013, 1013, 1013]);
  });
});
