import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { PresenceEvent } from '../../src/presence/presence.events.js';
import { BENCH_NAMESPACE, CONTENT_MARKER, NEW_MESSAGE_EVENT } from '../wire.js';
import { handshakeEnd, openLightSocket, startsWith } from './light-socket.js';

/**
 * `socket-io`: Engine.IO 4 / Socket.IO 5 packets over a WebSocket, namespace `/chat`.
 * `raw`: the same event and ack arrays without the Engine.IO and Socket.IO prefixes, for the raw
 * ws target: `["event",payload]`, `<ackId>["event",payload]`, acks `<ackId>[response]`.
 */
export type WireProtocol = 'socket-io' | 'raw';

export interface DeliveryListener {
  /** A `message:new` frame; its stamp starts at `contentAt`. */
  onNewMessage(client: LightClient, frame: Buffer, contentAt: number): void;
  /** A `user:online`, `user:offline` or `user:status` frame (Switchboard tells chat co-members on `/chat`). */
  onPresenceEvent(client: LightClient): void;
  /** The server closed a connection that had connected. */
  onUnexpectedClose(client: LightClient): void;
}

export type AckCallback = (response: Buffer) => void;

export interface LightClientOptions {
  url: string;
  protocol: WireProtocol;
  /** The Socket.IO CONNECT payload (`auth`); unused by `raw`. */
  auth?: object;
  localAddress: string;
  listener: DeliveryListener;
  timeoutMs: number;
}

const ENGINE_OPEN = 0x30; // '0'
const ENGINE_CLOSE = 0x31; // '1'
const ENGINE_PING = 0x32; // '2'
const DIGIT_ZERO = 0x30;
const DIGIT_NINE = 0x39;
const OPEN_BRACKET = 0x5b; // '['
const OPEN_BRACE = 0x7b; // '{'

const namespacePrefix = `${BENCH_NAMESPACE},`;
const SIO = {
  connect: `40${namespacePrefix}`,
  connectError: Buffer.from(`44${namespacePrefix}`),
  connected: Buffer.from(`40${namespacePrefix}`),
  event: `42${namespacePrefix}`,
  eventPrefix: Buffer.from(`42${namespacePrefix}`),
  ackPrefix: Buffer.from(`43${namespacePrefix}`),
};
const NEW_MESSAGE_ARRAY = Buffer.from(`["${NEW_MESSAGE_EVENT}",`);
const PRESENCE_ARRAYS = [PresenceEvent.Online, PresenceEvent.Offline, PresenceEvent.Status].map((event) =>
  Buffer.from(`["${event}",`),
);

/**
 * A load client as light as the wire allows: no Socket.IO client library, frames read as
 * buffers, only the stamp of each delivery parsed. Thousands live in the load process.
 */
export class LightClient {
  /** Per sender, the last sequence number received; reset by each fan-out step. */
  lastSequence = new Map<number, number>();
  private readonly protocol: WireProtocol;
  private readonly listener: DeliveryListener;
  private readonly pendingAcks = new Map<number, AckCallback>();
  private nextAckId = 0;
  private closing = false;

  private constructor(
    private readonly socket: WebSocket,
    options: LightClientOptions,
  ) {
    this.protocol = options.protocol;
    this.listener = options.listener;
  }

  /** Opens the connection and joins `/chat`; resolves with the handshake time in ms. */
  static connect(options: LightClientOptions): Promise<{ client: LightClient; handshakeMs: number }> {
    const startedAt = performance.now();
    const socket = openLightSocket(options);
    const client = new LightClient(socket, options);
    return new Promise((resolve, reject) => {
      const { succeed, fail } = handshakeEnd(socket, options.timeoutMs, 'handshake', {
        succeeded: () => {
          socket.off('message', onHandshakeFrame);
          socket.on('message', (frame: Buffer) => client.onFrame(frame));
          resolve({ client, handshakeMs: performance.now() - startedAt });
        },
        failed: (error) => {
          client.closing = true;
          reject(error);
        },
      });
      const onHandshakeFrame = (frame: Buffer) => {
        if (frame[0] === ENGINE_OPEN && frame[1] === OPEN_BRACE) {
          socket.send(`${SIO.connect}${JSON.stringify(options.auth ?? {})}`);
        } else if (startsWith(frame, SIO.connected)) {
          succeed();
        } else if (startsWith(frame, SIO.connectError)) {
          fail(new Error(`connect_error ${frame.subarray(SIO.connectError.length).toString()}`));
        }
      };
      socket.on('close', () => {
        fail(new Error('closed during the handshake'));
        if (!client.closing) client.listener.onUnexpectedClose(client);
      });
      if (options.protocol === 'raw') socket.once('open', succeed);
      else socket.on('message', onHandshakeFrame);
    });
  }

  /** Sends an event; `onAck` receives the ack's JSON array (`[response]`). */
  emit(event: string, payload: unknown, onAck?: AckCallback): void {
    let ackId = '';
    if (onAck) {
      this.nextAckId += 1;
      this.pendingAcks.set(this.nextAckId, onAck);
      ackId = String(this.nextAckId);
    }
    const packet = `${ackId}${JSON.stringify([event, payload])}`;
    this.socket.send(this.protocol === 'raw' ? packet : `${SIO.event}${packet}`);
  }

  close(): void {
    this.closing = true;
    this.socket.terminate();
  }

  private onFrame(frame: Buffer): void {
    if (this.protocol === 'raw') {
      this.onPacket(frame, 0);
      return;
    }
    if (startsWith(frame, SIO.eventPrefix)) this.onPacket(frame, SIO.eventPrefix.length);
    else if (startsWith(frame, SIO.ackPrefix)) this.onAck(frame, SIO.ackPrefix.length);
    else if (frame.length === 1 && frame[0] === ENGINE_PING) this.socket.send('3');
    else if (frame[0] === ENGINE_CLOSE) this.socket.close();
  }

  /** An event array at `offset`, or for `raw` an ack (`<id>[...]`). */
  private onPacket(frame: Buffer, offset: number): void {
    if (frame[offset] !== OPEN_BRACKET) {
      this.onAck(frame, offset);
      return;
    }
    if (!startsWith(frame, NEW_MESSAGE_ARRAY, offset)) {
      if (PRESENCE_ARRAYS.some((prefix) => startsWith(frame, prefix, offset))) {
        this.listener.onPresenceEvent(this);
      }
      return;
    }
    const marker = frame.indexOf(CONTENT_MARKER, offset + NEW_MESSAGE_ARRAY.length);
    if (marker >= 0) this.listener.onNewMessage(this, frame, marker + CONTENT_MARKER.length);
  }

  private onAck(frame: Buffer, offset: number): void {
    let position = offset;
    let ackId = 0;
    let byte = frame[position];
    while (byte !== undefined && byte >= DIGIT_ZERO && byte <= DIGIT_NINE) {
      ackId = ackId * 10 + (byte - DIGIT_ZERO);
      position += 1;
      byte = frame[position];
    }
    const callback = this.pendingAcks.get(ackId);
    if (!callback) return;
    this.pendingAcks.delete(ackId);
    callback(frame.subarray(position));
  }
}
