/**
 * The idle sweep's timer: one for every connection of an owner, kept while connections come and
 * go, and stopped by the first sweep that finds none.
 */
import { IdleSweep, sweepInterval } from '../../src/idle-sweep';
import { delay } from '../helpers/net';

describe('the idle sweep', () => {
  test('connections coming and going one at a time share one timer, which stops once none is left', async () => {
    const makeInterval = jest.spyOn(global, 'setInterval');
    const checked: number[] = [];
    const timeout = 40;
    const sweep = new IdleSweep<number>(timeout, (item) => checked.push(item));
    try {
      expect(sweep.running).toBe(false);
      for (let item = 0; item < 200; item++) {
        sweep.watch(item);
        sweep.unwatch(item);
      }
      expect(makeInterval).toHaveBeenCalledTimes(1);
      expect(sweep.running).toBe(true);
      // The first sweep finds nothing watched and stops the timer; nothing was checked.
      await delay(sweepInterval(timeout) * 3 + 20);
      expect(sweep.running).toBe(false);
      expect(checked).toEqual([]);
      // Watching again starts it again, and the watched item is checked.
      sweep.watch(7);
      expect(sweep.running).toBe(true);
      expect(makeInterval).toHaveBeenCalledTimes(2);
      await delay(sweepInterval(timeout) * 3 + 20);
      expect(checked.length).toBeGreaterThan(0);
      expect(new Set(checked)).toEqual(new Set([7]));
      sweep.unwatch(7);
      await delay(sweepInterval(timeout) * 3 + 20);
      expect(sweep.running).toBe(false);
    } finally {
      makeInterval.mockRestore();
    }
  });
});
