/**
 * Idle timeouts for many connections at the cost of one timer per owner (a server, a client),
 * instead of one timer per connection refreshed on every read and write. Each sweep asks every
 * watched item whether it saw traffic since the last sweep; the items keep their own counters,
 * so the read and write paths pay nothing for it. An item is closed between `timeout` and
 * `timeout` + one sweep interval after its last traffic.
 */

/** The longest pause between two sweeps: a long timeout is still honoured within a second. */
const MAX_SWEEP_INTERVAL = 1000;

/** The pause between two sweeps for `timeout`: a quarter of it, at most a second. */
export function sweepInterval(timeout: number): number {
  return Math.max(1, Math.min(MAX_SWEEP_INTERVAL, Math.floor(timeout / 4)));
}

/**
 * The items of one owner watched for `timeout` ms without traffic (timeout > 0). `check` is
 * called for every item on every sweep, with the pause between sweeps; it closes the item when
 * it has been quiet for long enough. The timer runs while something is watched, and stops at the
 * first sweep after the last item has gone.
 */
export class IdleSweep<T> {
  readonly timeout: number;
  readonly interval: number;
  private readonly members = new Set<T>();
  private readonly check: (item: T, interval: number, timeout: number) => void;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(timeout: number, check: (item: T, interval: number, timeout: number) => void) {
    this.timeout = timeout;
    this.interval = sweepInterval(timeout);
    this.check = check;
  }

  watch(item: T): void {
    this.members.add(item);
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.run(), this.interval);
    // Watching never keeps the process alive; the sockets being watched do.
    this.timer.unref();
  }

  /**
   * Stops watching `item`. The timer stops at the first sweep that finds nothing watched, not
   * with the last item: where connections come and go a few at a time, the table empties and
   * fills again between sweeps, and an interval made and cleared for each would cost more than
   * the sweeps.
   */
  unwatch(item: T): void {
    this.members.delete(item);
  }

  /** Whether the sweep's timer is running (it stops at the first sweep with nothing to watch). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  private run(): void {
    if (this.members.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const { check, interval, timeout } = this;
    // An item that closes during the sweep is removed later, when its socket reports the close.
    for (const item of this.members) check(item, interval, timeout);
  }
}
