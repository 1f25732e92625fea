import { jest } from '@jest/globals';
import { ExpirySchedule } from './expiry-schedule.js';

describe('ExpirySchedule', () => {
  const start = Date.UTC(2026, 0, 1, 12, 0, 0);
  let expired: string[];
  let schedule: ExpirySchedule<string>;

  beforeEach(() => {
    jest.useFakeTimers({ now: start });
    expired = [];
    schedule = new ExpirySchedule<string>((entry) => expired.push(entry));
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
});
