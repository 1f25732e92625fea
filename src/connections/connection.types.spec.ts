import { countEvent, newEventRateWindow } from './connection.types.js';

describe('countEvent', () => {
  const start = 1_000_000;

  it('allows up to the limit in a one-second window, refuses the rest, and starts again next window', () => {
    const rate = newEventRateWindow();
    const verdicts = Array.from({ length: 5 }, () => countEvent(rate, 3, 100, start));
    expect(verdicts).toEqual(['allowed', 'allowed', 'allowed', 'refused', 'refused']);
    expect(countEvent(rate, 3, 100, start + 1000)).toBe('allowed');
  });

  it('makes a flood of refused windows in a row, at the first refusal of the last one', () => {
    const rate = newEventRateWindow();
    const burst = (now: number) => Array.from({ length: 3 }, () => countEvent(rate, 1, 3, now));
    expect(burst(start)).toEqual(['allowed', 'refused', 'refused']);
    expect(burst(start + 1000)).toEqual(['allowed', 'refused', 'refused']);
    expect(burst(start + 2000)).toEqual(['allowed', 'flood', 'refused']);
  });

  it('forgets the streak after a window without refusals or a quiet second', () => {
    const rate = newEventRateWindow();
    const burst = (now: number) => Array.from({ length: 2 }, () => countEvent(rate, 1, 2, now));
    expect(burst(start)).toEqual(['allowed', 'refused']);
    expect(burst(start + 2500)).toEqual(['allowed', 'refused']);
    expect(countEvent(rate, 1, 2, start + 3500)).toBe('allowed');
    expect(countEvent(rate, 1, 2, start + 4500)).toBe('allowed');
    expect(burst(start + 5500)).toEqual(['allowed', 'refused']);
  });

  it('allows everything with a limit of 0', () => {
    const rate = newEventRateWindow();
    expect(
      Array.from({ length: 1000 }, () => countEvent(rate, 0, 1, start)).every((v) => v === 'allowed'),
    ).toBe(true);
  });
});
