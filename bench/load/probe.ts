import { io, type Socket } from 'socket.io-client';
import { BENCH_NAMESPACE, NEW_MESSAGE_EVENT, readStamp } from '../wire.js';

interface NewMessageEnvelope {
  data?: { content?: unknown };
}

/**
 * A real socket.io-client member of the fan-out rooms. It counts what it receives per step, so
 * the lightweight clients' framing is checked against the reference implementation.
 */
export class Probe {
  private readonly receivedByStep = new Map<number, number>();
  /** Called after every counted delivery. */
  onReceived: () => void = () => undefined;

  private constructor(private readonly socket: Socket) {
    socket.on(NEW_MESSAGE_EVENT, (message: NewMessageEnvelope) => {
      const content = message.data?.content;
      if (typeof content !== 'string') return;
      const stamp = readStamp(Buffer.from(content), 1);
      if (!stamp) return;
      this.receivedByStep.set(stamp.step, (this.receivedByStep.get(stamp.step) ?? 0) + 1);
      this.onReceived();
    });
  }

  static async connect(baseUrl: string, auth: object, timeoutMs: number): Promise<Probe> {
    return new Probe(await connectReferenceClient(`${baseUrl}${BENCH_NAMESPACE}`, auth, timeoutMs, 'probe'));
  }

  received(step: number): number {
    return this.receivedByStep.get(step) ?? 0;
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * A socket.io-client over WebSocket, without reconnection, connected to `url` (a namespace);
 * rejects with `what` named when the server refuses it.
 */
export function connectReferenceClient(
  url: string,
  auth: object,
  timeoutMs: number,
  what: string,
): Promise<Socket> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth,
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('connect_error');
      resolve(socket);
    });
    socket.once('connect_error', (error: Error) => {
      socket.close();
      reject(new Error(`${what} refused: ${error.message}`));
    });
  });
}
