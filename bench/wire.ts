import { CHAT_NAMESPACE, ChatEvent } from '../src/chat/chat.events.js';

/**
 * What the load generator and the targets agree on beyond the chat protocol (docs/protocol.md): the relay event of the
 * bench gateway, the baselines' handshake fields and the stamp carried in message content.
 */
export const BENCH_NAMESPACE = CHAT_NAMESPACE;

/** Served only by the bench host gateway (`--extra-handlers`): broadcast without storage. */
export const RELAY_EVENT = 'bench:relay';

export const SEND_EVENT = ChatEvent.SendMessage;
export const NEW_MESSAGE_EVENT = ChatEvent.NewMessage;

/**
 * Baselines have no tokens and no storage: a baseline client names itself and its chats,
 * `{ userId, chatIds }` in the Socket.IO `auth`, or these query parameters of the raw ws URL.
 */
export const RAW_USER_PARAM = 'user';
export const RAW_CHATS_PARAM = 'chats';

export function baselineUserRoom(userId: string): string {
  return `user:${userId}`;
}

export function baselineChatRoom(chatId: string): string {
  return `chat:${chatId}`;
}

/** Which step, sender and sequence number a message is, and when it was meant to be sent. */
export interface Stamp {
  step: number;
  sender: number;
  sequence: number;
  /** `performance.now()` of the load process, in microseconds. */
  intendedAtMicros: number;
}

const STAMP_SEPARATOR = '~';
const STAMP_SEPARATOR_CODE = STAMP_SEPARATOR.charCodeAt(0);
const ZERO = '0'.charCodeAt(0);
const NINE = '9'.charCodeAt(0);

/** `~step~sender~sequence~intendedAtMicros~` padded with `x` to `length` characters. */
export function stampContent(stamp: Stamp, length: number): string {
  const text = ['', stamp.step, stamp.sender, stamp.sequence, Math.round(stamp.intendedAtMicros), ''].join(
    STAMP_SEPARATOR,
  );
  return text.length >= length ? text : text + 'x'.repeat(length - text.length);
}

/** Where stamped content starts in a serialized message: right after this marker. */
export const CONTENT_MARKER = Buffer.from(`"content":"${STAMP_SEPARATOR}`);

/**
 * Reads the stamp at `offset` (just after `CONTENT_MARKER`) without decoding the frame to a
 * string: the receive path runs for every delivery. Returns null when the content is no stamp.
 */
export function readStamp(frame: Buffer, offset: number): Stamp | null {
  const fields: [step: number, sender: number, sequence: number, intendedAtMicros: number] = [0, 0, 0, 0];
  let position = offset;
  for (let field = 0; field < fields.length; field += 1) {
    const start = position;
    let value = 0;
    let byte = frame[position];
    while (byte !== undefined && byte >= ZERO && byte <= NINE) {
      value = value * 10 + (byte - ZERO);
      position += 1;
      byte = frame[position];
    }
    if (position === start || byte !== STAMP_SEPARATOR_CODE) return null;
    fields[field] = value;
    position += 1;
  }
  const [step, sender, sequence, intendedAtMicros] = fields;
  return { step, sender, sequence, intendedAtMicros };
}
