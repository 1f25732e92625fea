import type WebSocket from 'ws';
import { EventsFrame } from '../../src/notifications/events-websocket.frames.js';
import { NOTIFICATIONS_NAMESPACE, NotificationsEvent } from '../../src/notifications/notifications.events.js';
import { CONTENT_MARKER } from '../wire.js';
import { handshakeEnd, openLightSocket, startsWith } from './light-socket.js';

/** `socket-io`: the `/notifications` namespace; `raw`: the plain WebSocket `/ws/events`. */
export type EventDoor = 'socket-io' | 'raw';

export interface EventListener {
  /** An `event` delivery; its stamp starts at `contentAt`. */
  onEvent(subscriber: EventSubscriber, frame: Buffer, contentAt: number): void;
  /** The server closed a subscriber that had subscribed. */
  onUnexpectedClose(): void;
}

export interface EventSubscriberOptions {
  url: string;
  door: EventDoor;
  /** The Socket.IO CONNECT payload; the raw door takes its token in the URL. */
  auth: object;
  patterns: readonly string[];
  localAddress: string;
  listener: EventListener;
  timeoutMs: number;
}

const ENGINE_OPEN = Buffer.from('0{');
const ENGINE_PING = 0x32; // '2'
const ENGINE_CLOSE = 0x31; // '1'
const SUBSCRIBE_ACK_ID = 1;
const namespace = `${NOTIFICATIONS_NAMESPACE},`;
const SIO = {
  connected: Buffer.from(`40${namespace}`),
  connectError: Buffer.from(`44${namespace}`),
  subscribed: Buffer.from(`43${namespace}${SUBSCRIBE_ACK_ID}[{"ok":true`),
  ack: Buffer.from(`43${namespace}${SUBSCRIBE_ACK_ID}`),
  event: Buffer.from(`42${namespace}["${NotificationsEvent.Event}",`),
};
const RAW = {
  authenticated: Buffer.from(`{"type":"${EventsFrame.Authenticated}"`),
  subscribed: Buffer.from(`{"type":"${EventsFrame.Subscribed}"`),
  error: Buffer.from(`{"type":"${EventsFrame.Error}"`),
  event: Buffer.from(`{"type":"${EventsFrame.Event}","payload":`),
};

/**
 * A subscriber as light as the wire allows, on either door: it connects, subscribes to its
 * patterns and waits for the answer, then reads only the stamp of each `event` it receives.
 */
export class EventSubscriber {
  /** The last sequence number received from the publisher; reset by each step. */
  lastSequence = 0;
  private closing = false;

  private constructor(
    private readonly socket: WebSocket,
    private readonly door: EventDoor,
    private readonly listener: EventListener,
  ) {}

  /** Resolves once the server has answered the `subscribe`. */
  static connect(options: EventSubscriberOptions): Promise<EventSubscriber> {
    const socket = openLightSocket(options);
    const subscriber = new EventSubscriber(socket, options.door, options.listener);
    const subscription = { eventTypes: options.patterns };
    return new Promise((resolve, reject) => {
      const { succeed, fail } = handshakeEnd(socket, options.timeoutMs, 'subscribing', {
        succeeded: () => {
          socket.off('message', onHandshakeFrame);
          socket.on('message', (frame: Buffer) => subscriber.onFrame(frame));
          resolve(subscriber);
        },
        failed: (error) => {
          subscriber.closing = true;
          reject(error);
        },
      });
      const onSocketIoFrame = (frame: Buffer) => {
        if (startsWith(frame, ENGINE_OPEN)) {
          socket.send(`40${namespace}${JSON.stringify(options.auth)}`);
        } else if (startsWith(frame, SIO.connected)) {
          socket.send(
            `42${namespace}${SUBSCRIBE_ACK_ID}${JSON.stringify([NotificationsEvent.Subscribe, subscription])}`,
          );
        } else if (startsWith(frame, SIO.subscribed)) {
          succeed();
        } else if (startsWith(frame, SIO.ack) || startsWith(frame, SIO.connectError)) {
          fail(new Error(`refused: ${frame.toString()}`));
        }
      };
      const onRawFrame = (frame: Buffer) => {
        if (startsWith(frame, RAW.authenticated)) {
          socket.send(JSON.stringify({ type: EventsFrame.Subscribe, payload: subscription }));
        } else if (startsWith(frame, RAW.subscribed)) {
          succeed();
        } else if (startsWith(frame, RAW.error)) {
          fail(new Error(`refused: ${frame.toString()}`));
        }
      };
      const onHandshakeFrame = options.door === 'raw' ? onRawFrame : onSocketIoFrame;
      socket.on('message', onHandshakeFrame);
      socket.on('close', (code, reason) => {
        fail(new Error(`closed while subscribing: ${code} ${reason.toString()}`));
        if (!subscriber.closing) subscriber.listener.onUnexpectedClose();
      });
    });
  }

  close(): void {
    this.closing = true;
    this.socket.terminate();
  }

  private onFrame(frame: Buffer): void {
    const prefix = this.door === 'raw' ? RAW.event : SIO.event;
    if (startsWith(frame, prefix)) {
      const marker = frame.indexOf(CONTENT_MARKER, prefix.length);
      if (marker >= 0) this.listener.onEvent(this, frame, marker + CONTENT_MARKER.length);
    } else if (this.door === 'socket-io') {
      if (frame.length === 1 && frame[0] === ENGINE_PING) this.socket.send('3');
      else if (frame[0] === ENGINE_CLOSE) this.socket.close();
    }
  }
}
