import WebSocket from 'ws';

export interface LightSocketOptions {
  url: string;
  /** The source address the connection comes from (see `sourceAddress`). */
  localAddress: string;
  timeoutMs: number;
}

/** A load connection's WebSocket: IPv4 from its own source address, no compression, no UTF-8 check. */
export function openLightSocket(options: LightSocketOptions): WebSocket {
  return new WebSocket(options.url, {
    localAddress: options.localAddress,
    family: 4,
    perMessageDeflate: false,
    skipUTF8Validation: true,
    handshakeTimeout: options.timeoutMs,
  });
}

/** The two ways a handshake ends; whichever comes first counts, the other does nothing. */
export interface HandshakeEnd {
  succeed: () => void;
  fail: (error: Error) => void;
}

/**
 * Ends a handshake once: by `succeed`, or by `fail`, a socket error or `timeoutMs` passing, which
 * terminate the socket. `succeeded` and `failed` run at most once between them.
 */
export function handshakeEnd(
  socket: WebSocket,
  timeoutMs: number,
  what: string,
  outcome: { succeeded: () => void; failed: (error: Error) => void },
): HandshakeEnd {
  let settled = false;
  const end: HandshakeEnd = {
    succeed: () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome.succeeded();
    },
    fail: (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome.failed(error);
      socket.terminate();
    },
  };
  const timer = setTimeout(() => end.fail(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  socket.on('error', (error) => end.fail(error));
  return end;
}

/** Whether `frame` holds `prefix` at `offset`, without copying either. */
export function startsWith(frame: Buffer, prefix: Buffer, offset = 0): boolean {
  return (
    frame.length >= offset + prefix.length &&
    frame.compare(prefix, 0, prefix.length, offset, offset + prefix.length) === 0
  );
}
