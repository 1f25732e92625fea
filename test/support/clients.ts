import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** A socket.io-client socket that does not reconnect by itself, websocket only unless told. */
export function client(url: string, namespace = '/', options: ClientOptions = {}): Socket {
  return io(`${url}${namespace}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...options,
  });
}

/** Resolves with the first payload of `event`; rejects after `timeoutMs`. */
export function nextEvent<T = unknown>(socket: Socket, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, onEvent);
      reject(new Error(`No "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, onEvent);
  });
}

/** Connects and resolves with the `authenticated` payload, or rejects with the `connect_error`. */
export function connected<T = unknown>(socket: Socket, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      socket.off('authenticated', onAuthenticated);
      socket.off('connect_error', onError);
    };
    const onAuthenticated = (payload: T) => {
      finish();
      resolve(payload);
    };
    const onError = (error: Error) => {
      finish();
      reject(error);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`Not authenticated within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('authenticated', onAuthenticated);
    socket.once('connect_error', onError);
  });
}

/** Resolves with the `connect_error` of a refused handshake. */
export function refused(
  socket: Socket,
  timeoutMs = 5000,
): Promise<Error & { data?: { code: string; message: string } }> {
  return nextEvent(socket, 'connect_error', timeoutMs);
}

export function disconnected(socket: Socket, timeoutMs = 5000): Promise<string> {
  if (socket.disconnected && !socket.active) return Promise.resolve('already disconnected');
  return nextEvent<string>(socket, 'disconnect', timeoutMs);
}

/** Closes every socket of `sockets` (emptying it) and resolves once the connected ones are gone. */
export async function closeAll(sockets: Socket[]): Promise<void> {
  const closing = sockets.splice(0).map((socket) => {
    const gone = socket.connected ? disconnected(socket) : Promise.resolve('');
    socket.close();
    return gone;
  });
  await Promise.all(closing);
}
