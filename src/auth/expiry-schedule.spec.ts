import { jest } from '@jest/globals';
import { TestClock } from '../../test/support/test-clock.js';
import { systemClock } from '../common/clock.js';
import { ExpirySchedule } from './expiry-schedule.js';

describe('ExpirySchedule', () => {
  const start = Date.UTC(2026, 0, 1, 12, 0, 0);
  let expired: string[];
  let schedule: ExpirySchedule<string>;

  beforeEach(() => {
    jest.useFakeTimers({ now: start });
    expired = [];
    schedule = new ExpirySchedule<string>((entry) => expired.push(entry), systemClock);
  });
  afterEach(() => {
    schedule.clear();
    jest.useRealTimers();
  });

  it('expires each entry at its second with one timer for all of them', () => {
    for (let index = 0; index < 1000; index += 1) schedule.schedule(`late-${index}`, start + 5000);
    schedule.schedule('early', start + 2000);
    schedule.schedule('middle', start + 3000);
    expect(jest.getTimerCount()).toBe(1);

    jest.advanceTimersByTime(1999);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual(['early']);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['early', 'middle']);
    jest.advanceTimersByTime(2000);
    expect(expired).toHaveLength(1002);
    expect(schedule.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('never expires an entry before its time, rounding a time within a second up', () => {
    schedule.schedule('odd', start + 1500);
    jest.advanceTimersByTime(1499);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(501);
    expect(expired).toEqual(['odd']);
  });

  it('forgets a cancelled entry and moves a rescheduled one', () => {
    schedule.schedule('gone', start + 1000);
    schedule.schedule('moved', start + 1000);
    schedule.cancel('gone');
    schedule.schedule('moved', start + 4000);
    jest.advanceTimersByTime(3000);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['moved']);
  });

  it('arms earlier when an entry is due before the one it waits for', () => {
    schedule.schedule('later', start + 10_000);
    schedule.schedule('sooner', start + 1000);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['sooner']);
    jest.advanceTimersByTime(9000);
    expect(expired).toEqual(['sooner', 'later']);
  });

  it('expires at once an entry whose time has passed', () => {
    schedule.schedule('past', start - 60_000);
    jest.advanceTimersByTime(0);
    expect(expired).toEqual(['past']);
  });

  it('reaches times beyond the longest setTimeout delay', () => {
    const farAway = start + 30 * 24 * 3600 * 1000;
    schedule.schedule('far', farAway);
    jest.advanceTimersByTime(farAway - start - 1000);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1000);
    expect(expired).toEqual(['far']);
  });

  describe('on a clock that jumps', () => {
    let clock: TestClock;

    beforeEach(() => {
      clock = new TestClock();
      schedule = new ExpirySchedule<string>((entry) => expired.push(entry), clock);
    });

    it('expires at once, before the jump returns, what the jump made due, and keeps waiting for the rest', () => {
      schedule.schedule('first', start + 60_000);
      schedule.schedule('second', start + 61_000);
      schedule.schedule('later', start + 3_600_000);

      clock.advance(59_999);
      expect(expired).toEqual([]);
      clock.advance(1);
      expect(expired).toEqual(['first']);
      clock.advance(1000);
      expect(expired).toEqual(['first', 'second']);

      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(3_600_000 - 61_000 - 1);
      expect(expired).toEqual(['first', 'second']);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual(['first', 'second', 'later']);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('re-arms its timer for the time left after a jump', () => {
      schedule.schedule('entry', start + 10_000);
      clock.advance(8000);
      expect(expired).toEqual([]);

      jest.advanceTimersByTime(1999);
      expect(expired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(expired).toEqual(['entry']);
    });

    it('expires nothing on a jump once the entry is cancelled or the schedule cleared', () => {
      schedule.schedule('cancelled', start + 1000);
      schedule.cancel('cancelled');
      clock.advance(5000);
      schedule.schedule('cleared', start + 10_000);
      schedule.clear();
      clock.advance(60_000);

      expect(expired).toEqual([]);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('stops listening to the clock once nothing is left to expire', () => {
      const listening = jest.spyOn(clock, 'onJump');
      schedule.schedule('a', start + 1000);
      schedule.schedule('b', start + 2000);
      expect(listening).toHaveBeenCalledTimes(1);

      clock.advance(2000);
      expect(expired).toEqual(['a', 'b']);
      const timeAfter = clock.now();
      schedule.schedule('c', timeAfter + 1000);
      expect(listening).toHaveBeenCalledTimes(2);
      jest.advanceTimersByTime(1000);
      expect(expired).toEqual(['a', 'b', 'c']);
    });
  });
});
