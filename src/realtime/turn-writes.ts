import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions } from 'ws';

/** How to uncork each socket corked in the current turn of the event loop, all at its end. */
let uncorkAtEndOfTurn: (() => void)[] = [];

function endTurn(): void {
  const uncorks = uncorkAtEndOfTurn;
  uncorkAtEndOfTurn = [];
  for (const uncork of uncorks) uncork();
}

/**
 * Makes what is written to `socket` within one turn of the event loop leave in one system call.
 * Engine.IO writes every packet as a WebSocket frame of its own and Node hands each write to the
 * kernel at once, so a socket told of 20 changes in one turn cost 20 `writev` calls, each a trip
 * through the TCP stack. Corked until the turn's `nextTick` (the batching `writable.cork()` is
 * for), they go out together; nothing waits past the current turn.
 */
export function writeInTurns(socket: Duplex): void {
  const write = socket.write.bind(socket) as (...args: Parameters<Duplex['write']>) => boolean;
  // Not `writableCorked`: `ws` corks around the two parts of a frame itself.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: Parameters<Duplex['write']>): boolean => {
    if (!corked) {
      corked = true;
      if (uncorkAtEndOfTurn.length === 0) process.nextTick(endTurn);
      uncorkAtEndOfTurn.push(uncork);
      socket.cork();
    }
    return write(...args);
  }) as Duplex['write'];
}

/**
 * The `ws` server Engine.IO upgrades with (its `wsEngine` option), writing every connection's
 * frames in turns (`writeInTurns`) from the handshake response on. Only upgrades that succeed get
 * there: a refused one writes its answer and destroys the socket in the same turn.
 */
export class TurnWritingWebSocketServer extends WebSocketServer {
  constructor(options?: ServerOptions, callback?: () => void) {
    super(options, callback);
    this.on('headers', (_headers: string[], request: IncomingMessage) => writeInTurns(request.socket));
  }
}
