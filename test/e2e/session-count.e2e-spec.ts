import type { Socket } from 'socket.io-client';
import type { Envelope, SessionsCountPayload } from '../../src/contracts/index.js';
import { startApp, type RunningApp } from '../support/app.js';
import { client, closeAll, connected } from '../support/clients.js';
import { signToken } from '../support/tokens.js';

type CountPush = Envelope<'sessions:count', SessionsCountPayload>;

/** Collects the pushes a socket receives and resolves once one carries `count`. */
function watchCounts(socket: Socket) {
  const pushes: CountPush[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  socket.on('sessions:count', (push: CountPush) => {
    pushes.push(push);
    for (const waiter of waiters.filter((candidate) => candidate.count === push.data.activeSessionsCount)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  return {
    pushes,
    until: (count: number) =>
      pushes.some((push) => push.data.activeSessionsCount === count)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}

/** `sessions:count` is pushed from connection changes, coalesced, and never misses the last value. */
describe('sessions:count push (e2e)', () => {
  const BROADCAST_MS = 400;
  let running: RunningApp;
  const sockets: Socket[] = [];
  const open = (sub: string) => {
    const socket = client(running.url, '/', { auth: { token: signToken({ sub }) } });
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    running = await startApp({ SESSIONS_BROADCAST_MS: String(BROADCAST_MS) });
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => running.close());

  it('pushes the count to sockets that arrived after it went down and back up to the same value', async () => {
    const first = open('watcher');
    const firstCounts = watchCounts(first);
    await connected(first);
    await connected(open('visitor'));
    await firstCounts.until(2);
    await closeAll(sockets);
    const second = open('watcher');
    const secondCounts = watchCounts(second);
    await connected(second);
    await connected(open('visitor'));
    await secondCounts.until(2);
  });

  it('delivers the last value after a change that reverted within one interval', async () => {
    const watcher = open('watcher');
    const counts = watchCounts(watcher);
    await connected(watcher);
    await counts.until(1);
    const pushedBefore = counts.pushes.length;
    const visitor = open('visitor');
    await connected(visitor);
    visitor.close();
    await new Promise<void>((resolve) => {
      const check = () =>
        counts.pushes.length > pushedBefore && counts.pushes.at(-1)?.data.activeSessionsCount === 1
          ? resolve()
          : setImmediate(check);
      check();
    });
  });

  it('coalesces a burst into pushes at least SESSIONS_BROADCAST_MS apart, the last one the final count', async () => {
    const watcher = open('watcher');
    const counts = watchCounts(watcher);
    await connected(watcher);
    await counts.until(1);
    await Promise.all(Array.from({ length: 20 }, (_, index) => connected(open(`burst-${index}`))));
    await counts.until(21);
    const stamps = counts.pushes.map((push) => Date.parse(push.timestamp));
    let previous: number | undefined;
    for (const stamp of stamps) {
      if (previous !== undefined) expect(stamp - previous).toBeGreaterThanOrEqual(BROADCAST_MS - 1);
      previous = stamp;
    }
    expect(counts.pushes.at(-1)?.data.activeSessionsCount).toBe(21);
  });
});
