import { jest } from '@jest/globals';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { type WebSocket as ServerWebSocket } from 'ws';
import { TurnWritingWebSocketServer } from './turn-writes.js';

/** Counts the writes a socket hands to the kernel: one per `_write`, one per `_writev`. */
function countKernelWrites(socket: Duplex): () => number[] {
  const batches: number[] = [];
  const writable = socket as Duplex & {
    _writev: (chunks: unknown[], callback: () => void) => void;
  };
  const writev = writable._writev.bind(writable);
  const write = writable._write.bind(writable);
  jest.spyOn(writable, '_writev').mockImplementation((chunks, callback) => {
    batches.push(chunks.length);
    writev(chunks, callback);
  });
  jest.spyOn(writable, '_write').mockImplementation((chunk, encoding, callback) => {
    batches.push(1);
    write(chunk, encoding, callback);
  });
  return () => batches;
}

describe('TurnWritingWebSocketServer', () => {
  let http: Server;
  let wss: TurnWritingWebSocketServer;
  let url: string;

  beforeEach(async () => {
    http = createServer();
    wss = new TurnWritingWebSocketServer({ noServer: true });
    http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request)),
    );
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    http.close();
    await once(http, 'close');
  });

  async function connect(): Promise<{ client: WebSocket; server: ServerWebSocket; socket: Duplex }> {
    const accepted = once(wss, 'connection') as Promise<[ServerWebSocket, IncomingMessage]>;
    const client = new WebSocket(url);
    await once(client, 'open');
    const [server, request] = await accepted;
    return { client, server, socket: request.socket };
  }

  function received(client: WebSocket, count: number): Promise<string[]> {
    const messages: string[] = [];
    return new Promise((resolve) =>
      client.on('message', (data: Buffer) => {
        messages.push(data.toString());
        if (messages.length === count) resolve(messages);
      }),
    );
  }

  it('sends the frames of one turn in one write, in order', async () => {
    const { client, server, socket } = await connect();
    const writes = countKernelWrites(socket);
    const messages = received(client, 20);
    for (let index = 0; index < 20; index += 1) server.send(`event ${index}`);

    expect(await messages).toEqual(Array.from({ length: 20 }, (_, index) => `event ${index}`));
    // Each frame is a header and a payload: 40 buffers, handed over at once.
    expect(writes()).toEqual([40]);
    client.close();
  });

  it('sends the frames of later turns in writes of their own, without waiting for more', async () => {
    const { client, server, socket } = await connect();
    const writes = countKernelWrites(socket);
    const first = received(client, 1);
    server.send('first');
    expect(await first).toEqual(['first']);

    const next = received(client, 2);
    server.send('second');
    server.send('third');
    expect(await next).toEqual(['second', 'third']);
    expect(writes()).toEqual([2, 4]);
    client.close();
  });

  it('still answers an upgrade it refuses before closing it', async () => {
    const refused = request(url.replace('ws:', 'http:'), {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13' },
    });
    refused.end();
    const [response] = (await once(refused, 'response')) as [IncomingMessage];
    expect(response.statusCode).toBe(400);
    response.resume();
    await once(response, 'end');
  });
});
