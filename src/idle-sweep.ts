/**
 * Idle timeouts for many connections at the cost of one timer per distinct timeout, process-wide,
 * instead of one timer per connection refreshed on every read and write. Each sweep asks every
 * watched item whether it saw traffic since the last sweep; the items keep their own counters,
 * so the read and write paths pay nothing for it. An item is closed between `timeout` and
 * `timeout` + one sweep interval after its last traffic.
 */

/** Something watched for idleness; it checks its own activity and closes itself when idle. */
export interface IdleWatched {
  /** Called on every sweep with the pause between sweeps and the timeout, both in ms. */
  sweepIdle(interval: number, timeout: number): void;
}

/** The longest pause between two sweeps: a long timeout is still honoured within a second. */
const MAX_SWEEP_INTERVAL = 1000;

interface Sweep {
  readonly members: Set<IdleWatched>;
  readonly timer: NodeJS.Timeout;
}

const sweeps = new Map<number, Sweep>();

/** The pause between two sweeps for `timeout`: a quarter of it, at most a second. */
export function sweepInterval(timeout: number): number {
  return Math.max(1, Math.min(MAX_SWEEP_INTERVAL, Math.floor(timeout / 4)));
}

/** Starts watching `item` for `timeout` ms without traffic (timeout > 0). */
export function watchIdle(item: IdleWatched, timeout: number): void {
  let sweep = sweeps.get(timeout);
  if (sweep === undefined) {
    const members = new Set<IdleWatched>();
    const timer = setInterval(runSweep, sweepInterval(timeout), members, timeout);
    // Watching never keeps the process alive; the sockets being watched do.
    timer.unref();
    sweep = { members, timer };
    sweeps.set(timeout, sweep);
  }
  sweep.members.add(item);
}

/** Stops watching `item`; the sweep's timer stops with its last member. */
export function unwatchIdle(item: IdleWatched, timeout: number): void {
  const sweep = sweeps.get(timeout);
  if (sweep === undefined || !sweep.members.delete(item)) return;
  if (sweep.members.size === 0) {
    clearInterval(sweep.timer);
    sweeps.delete(timeout);
  }
}

function runSweep(members: Set<IdleWatched>, timeout: number): void {
  const interval = sweepInterval(timeout);
  // An item that closes during the sweep is removed later, when its socket reports the close.
  for (const item of members) item.sweepIdle(interval, timeout);
}
