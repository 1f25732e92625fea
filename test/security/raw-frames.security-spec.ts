import http from 'node:http';
import type { Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { startAppProcess, type AppProcess } from '../support/app-process.js';
import { client, closeAll, connected } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

/** How a raw connection reacted to what it was sent. */
type Outcome = 'closed' | 'refused' | 'alive';

const REACTION_TIMEOUT_MS = 5000;
const PING_ACK_ID = 77;

/**
 * A Socket.IO client speaking raw Engine.IO v4 frames over `ws`, recording every frame the
 * server sends, and answering the server's Engine.IO pings.
 */
class RawConnection {
  readonly frames: (string | Buffer)[] = [];
  readonly closed: Promise<number>;
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? data : data.toString('utf8');
      if (frame === '2') ws.send('3');
      this.frames.push(frame);
      for (const listener of [...this.listeners]) listener();
    });
    void this.closed.then(() => {
      for (const listener of [...this.listeners]) listener();
    });
  }

  /** Resolves once the Engine.IO open packet has arrived. */
  static async open(port: number): Promise<RawConnection> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    const connection = new RawConnection(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await connection.frame((frame) => typeof frame === 'string' && frame.startsWith('0{'), 'the open packet');
    return connection;
  }

  get isClosed(): boolean {
    return this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING;
  }

  send(frame: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /** Joins `/` with a valid token. */
  async join(): Promise<void> {
    this.send(`40${JSON.stringify({ token: signToken({ sub: 'raw-client' }) })}`);
    await this.frame((frame) => typeof frame === 'string' && frame.startsWith('40{'), 'the CONNECT reply');
  }

  /** The first frame, received already or to come, that satisfies `matches`. */
  frame(matches: (frame: string | Buffer) => boolean, what: string): Promise<string | Buffer> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.find(matches);
        if (found !== undefined) finish(() => resolve(found));
        else if (this.isClosed) finish(() => reject(new Error(`Closed before ${what}`)));
      };
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`No ${what} within ${REACTION_TIMEOUT_MS} ms`))),
        REACTION_TIMEOUT_MS,
      );
      this.listeners.add(check);
      check();
    });
  }

  /**
   * What the server did after the frames of a case: closed the connection, refused it with a
   * CONNECT_ERROR packet, or (when `probe` is set) kept it working: a `ping` sent now is acked.
   */
  async reaction(probe: boolean): Promise<Outcome | 'nothing'> {
    if (probe) this.send(`42${PING_ACK_ID}["ping",{}]`);
    const reacted = await new Promise<Outcome | 'nothing'>((resolve) => {
      const check = () => {
        if (this.frames.some((frame) => typeof frame === 'string' && frame.startsWith('44')))
          finish('refused');
        else if (this.isClosed) finish('closed');
        else if (probe && this.frames.some(isAck)) finish('alive');
      };
      const finish = (outcome: Outcome | 'nothing') => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(outcome);
      };
      const timer = setTimeout(() => finish('nothing'), REACTION_TIMEOUT_MS);
      this.listeners.add(check);
      check();
    });
    return reacted;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

const isAck = (frame: string | Buffer) => typeof frame === 'string' && frame.startsWith(`43${PING_ACK_ID}[`);

interface FrameCase {
  name: string;
  /** Join `/` with a valid token before sending the frames. */
  joined: boolean;
  frames: (string | Buffer)[];
  /** What may happen to this connection; anything else, or nothing at all, fails. */
  allowed: Outcome[];
}

const BINARY_PLACEHOLDER = '{"_placeholder":true,"num":0}';

const CASES: FrameCase[] = [
  { name: 'a garbage text frame', joined: false, frames: ['hello, server'], allowed: ['closed'] },
  {
    name: 'a garbage text frame after joining',
    joined: true,
    frames: ['\u0000\u00ff\ufffd garbage'],
    allowed: ['closed'],
  },
  { name: 'an empty text frame', joined: true, frames: [''], allowed: ['closed'] },
  { name: 'an unknown Engine.IO packet type', joined: true, frames: ['9hello'], allowed: ['closed'] },
  { name: 'an unknown Socket.IO packet type', joined: true, frames: ['49["ping"]'], allowed: ['closed'] },
  {
    name: 'an event for a namespace never joined',
    joined: true,
    frames: ['42/chat,["message:send",{"chatId":"x","content":"y"}]'],
    allowed: ['closed', 'refused'],
  },
  {
    name: 'an event before any CONNECT',
    joined: false,
    frames: ['42["ping",{}]'],
    allowed: ['closed', 'refused'],
  },
  {
    name: 'a CONNECT whose auth is a string',
    joined: false,
    frames: ['40"token"'],
    allowed: ['closed', 'refused'],
  },
  {
    name: 'a CONNECT whose auth is an array',
    joined: false,
    frames: ['40[1,2]'],
    allowed: ['closed', 'refused'],
  },
  {
    name: 'a CONNECT whose auth is a number',
    joined: false,
    frames: ['4042'],
    allowed: ['closed', 'refused'],
  },
  { name: 'a CONNECT whose auth is null', joined: false, frames: ['40null'], allowed: ['closed', 'refused'] },
  {
    name: 'a CONNECT whose auth is not JSON',
    joined: false,
    frames: ['40{token'],
    allowed: ['closed', 'refused'],
  },
  {
    name: 'a CONNECT to a namespace that does not exist',
    joined: false,
    frames: [`40/nowhere,${JSON.stringify({ token: signToken() })}`],
    allowed: ['closed', 'refused'],
  },
  { name: 'invalid JSON in an event', joined: true, frames: ['42["ping",{'], allowed: ['closed'] },
  {
    name: 'an event whose data is not an array',
    joined: true,
    frames: ['42{"ping":1}'],
    allowed: ['closed'],
  },
  {
    name: 'an event named like a reserved event',
    joined: true,
    frames: ['42["disconnect"]'],
    allowed: ['closed'],
  },
  {
    name: 'a binary event announcing 11 attachments',
    joined: true,
    frames: [`4511-["ping",${BINARY_PLACEHOLDER}]`],
    allowed: ['closed'],
  },
  {
    name: 'a binary event announcing a negative attachment count',
    joined: true,
    frames: [`45-1-["ping",${BINARY_PLACEHOLDER}]`],
    allowed: ['closed'],
  },
  {
    name: 'attachments sent without a header',
    joined: true,
    frames: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(1024, 7)],
    allowed: ['closed'],
  },
  {
    name: 'a packet announcing attachments, then a text frame',
    joined: true,
    frames: [`451-["ping",${BINARY_PLACEHOLDER}]`, '42["ping",{}]'],
    allowed: ['closed'],
  },
  {
    name: 'events named after Object.prototype members',
    joined: true,
    frames: ['42["__proto__",{}]', '42["constructor",{}]', '42["hasOwnProperty",{}]', '42["toString"]'],
    allowed: ['alive', 'closed'],
  },
];

describe('raw Engine.IO / Socket.IO frames (security)', () => {
  let app: AppProcess;
  let bystander: Socket;
  const sockets: Socket[] = [];
  const raw: RawConnection[] = [];

  const ping = async (socket: Socket) => {
    const reply = await socket.timeout(REACTION_TIMEOUT_MS).emitWithAck('ping', {});
    expect(reply).toEqual({ ok: true, data: { pong: expect.any(String) } });
  };

  /** The process lives, the socket connected before still works, and a new one connects. */
  async function expectServerServing(): Promise<void> {
    expect(app.running).toBe(true);
    expect(bystander.connected).toBe(true);
    await ping(bystander);
    const fresh = client(app.url, '/', { auth: { token: signToken({ sub: 'fresh' }) } });
    sockets.push(fresh);
    await connected(fresh);
    await ping(fresh);
    const health = await fetch(`${app.url}/api/health`);
    expect(health.status).toBe(200);
  }

  beforeAll(async () => {
    app = await startAppProcess({
      serverId: 'raw-frames',
      env: { RATE_LIMIT_HANDSHAKES_PER_MIN: '0' },
    });
    bystander = client(app.url, '/', { auth: { token: signToken({ sub: 'bystander' }) } });
    await connected(bystander);
  });

  afterEach(async () => {
    for (const connection of raw.splice(0)) connection.terminate();
    await closeAll(sockets);
  });

  afterAll(async () => {
    bystander?.close();
    const exit = await app?.stop();
    // A clean stop, not a process that had died on its own along the way.
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it.each(CASES.map((frameCase) => [frameCase.name, frameCase] as const))(
    '%s: only that connection is affected',
    async (_name, frameCase) => {
      const connection = await RawConnection.open(app.port);
      raw.push(connection);
      if (frameCase.joined) await connection.join();

      for (const frame of frameCase.frames) connection.send(frame);
      const outcome = await connection.reaction(frameCase.joined && frameCase.allowed.includes('alive'));

      expect(frameCase.allowed).toContain(outcome);
      await expectServerServing();
    },
  );

  describe('over HTTP long-polling', () => {
    /** One HTTP exchange with the Engine.IO polling endpoint. */
    function poll(
      method: 'GET' | 'POST',
      sid?: string,
      body?: string,
    ): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const outgoing = http.request(
          {
            host: '127.0.0.1',
            port: app.port,
            method,
            path: `/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`,
            headers: body === undefined ? {} : { 'Content-Type': 'text/plain;charset=UTF-8' },
          },
          (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
          },
        );
        outgoing.once('error', reject);
        outgoing.end(body);
      });
    }

    async function openPollingSession(): Promise<string> {
      const opened = await poll('GET');
      expect(opened.status).toBe(200);
      const { sid } = JSON.parse(opened.body.slice(1)) as { sid: string };
      const joined = await poll('POST', sid, `40${JSON.stringify({ token: signToken({ sub: 'poller' }) })}`);
      expect(joined).toEqual({ status: 200, body: 'ok' });
      // The CONNECT answer and the `authenticated` event may come in one poll or in two.
      let received = (await poll('GET', sid)).body;
      expect(received).toMatch(/^40\{"sid":/);
      while (!received.includes('42["authenticated"')) received += (await poll('GET', sid)).body;
      return sid;
    }

    /** A closed session answers 400 (unknown sid) or hands out the close packet. */
    async function expectSessionClosed(sid: string): Promise<void> {
      const after = await poll('GET', sid);
      const closed = after.status === 400 || (after.status === 200 && after.body.split('\x1e').includes('1'));
      expect({ closed, after }).toEqual({ closed: true, after });
    }

    it.each([
      ['invalid JSON in an event', '42["ping",{'],
      ['a garbage payload', 'hello, server'],
      ['a binary event announcing 11 attachments', `4511-["ping",${BINARY_PLACEHOLDER}]`],
    ])('%s closes only that session', async (_name, body) => {
      const sid = await openPollingSession();
      const posted = await poll('POST', sid, body);
      expect(posted.status).toBeLessThan(500);
      await expectSessionClosed(sid);
      await expectServerServing();
    });
  });
});
