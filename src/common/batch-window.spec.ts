import { jest } from '@jest/globals';
import { BatchWindow } from './batch-window.js';

describe('BatchWindow', () => {
  let batches: [string, number][][];
  let failures: unknown[];

  const window = (deliver?: (batch: Map<string, number>) => Promise<void>, gatherMs = 0) =>
    new BatchWindow<string, number>({
      gatherMs,
      merge: (earlier, later) => earlier + later,
      deliver:
        deliver ??
        ((batch) => {
          batches.push([...batch]);
          return Promise.resolve();
        }),
      onFailure: (error) => failures.push(error),
    });

  beforeEach(() => {
    jest.useFakeTimers();
    batches = [];
    failures = [];
  });

  afterEach(() => jest.useRealTimers());

  it('delivers at the next turn what came meanwhile, merged, in the order of the latest values', async () => {
    const values = window();
    values.add('a', 1);
    await jest.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[['a', 1]]]);

    values.add('b', 1);
    values.add('c', 1);
    values.add('b', 2);
    expect(batches).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(batches[1]).toEqual([
      ['c', 1],
      ['b', 3],
    ]);
  });

  it('holds the next batch back while one is being delivered', async () => {
    let release = (): void => undefined;
    const values = window((batch) => {
      batches.push([...batch]);
      return new Promise<void>((resolve) => (release = resolve));
    });
    values.add('a', 1);
    await jest.advanceTimersByTimeAsync(0);
    values.add('b', 1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(batches).toEqual([[['a', 1]]]);

    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[['a', 1]], [['b', 1]]]);
  });

  it('gathers for gatherMs from the first value of a batch, and no longer after a slow batch', async () => {
    let release = (): void => undefined;
    const values = window((batch) => {
      batches.push([...batch]);
      return batches.length === 1 ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
    }, 20);
    values.add('a', 1);
    await jest.advanceTimersByTimeAsync(15);
    values.add('b', 1);
    await jest.advanceTimersByTimeAsync(4);
    expect(batches).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([
      [
        ['a', 1],
        ['b', 1],
      ],
    ]);

    values.add('c', 1);
    await jest.advanceTimersByTimeAsync(30);
    expect(batches).toHaveLength(1);
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(batches[1]).toEqual([['c', 1]]);
  });

  it('reports a failed delivery and goes on with the next batch', async () => {
    let calls = 0;
    const values = window((batch) => {
      calls += 1;
      if (calls === 1) return Promise.reject(new Error('storage is down'));
      batches.push([...batch]);
      return Promise.resolve();
    });
    values.add('a', 1);
    await jest.advanceTimersByTimeAsync(0);
    values.add('b', 1);
    await jest.advanceTimersByTimeAsync(1);

    expect(failures).toEqual([new Error('storage is down')]);
    expect(batches).toEqual([[['b', 1]]]);
  });

  it('flushes what waits at once, and takes nothing once closed', async () => {
    const values = window();
    values.add('a', 1);
    await jest.advanceTimersByTimeAsync(0);
    values.add('b', 1);
    await values.flush();
    expect(batches).toEqual([[['a', 1]], [['b', 1]]]);

    values.add('c', 1);
    values.close();
    values.add('d', 1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(batches).toHaveLength(2);
  });
});
