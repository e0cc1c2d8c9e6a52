import pino, { type Bindings, type Level, type Logger } from 'pino';

/**
 * The `logger` option: a pino logger (sockframe derives child loggers from it), or nothing for
 * silence. Lifecycle records are at info and debug; peer faults at warn; payload bytes never
 * above trace.
 */
export type LoggerOption = Logger | undefined;

let silent: Logger | undefined;

/** The component logger for one server or client. */
export function componentLogger(option: LoggerOption, component: string): Logger {
  if (option === undefined) {
    silent ??= pino({ level: 'silent' });
    return silent;
  }
  if (
    typeof option !== 'object' ||
    option === null ||
    typeof (option as Partial<Logger>).child !== 'function'
  ) {
    throw new TypeError('The "logger" option must be a pino logger.');
  }
  return option.child({ component });
}

export type { Logger };

/**
 * The bindings of one owner's child logger. Declared as a method so that a LazyChild of a
 * specific owner type is accepted where a wider one is expected.
 */
type BindingsOf<Owner> = { bindings(owner: Owner): Bindings }['bindings'];

/**
 * A child logger derived on first use. The bindings are computed only when a record is written
 * at an enabled level, so an object that never logs (a connection under a silent or warn-level
 * logger) costs nothing but a reference to this shared source.
 */
export class LazyChild<Owner> {
  readonly parent: Logger;
  private readonly bindingsOf: BindingsOf<Owner>;

  constructor(parent: Logger, bindingsOf: BindingsOf<Owner>) {
    this.parent = parent;
    this.bindingsOf = bindingsOf;
  }

  /** Whether a record at `level` would be written; the child shares the parent's level. */
  isLevelEnabled(level: Level): boolean {
    return this.parent.isLevelEnabled(level);
  }

  /** The child logger for `owner`. */
  child(owner: Owner): Logger {
    return this.parent.child(this.bindingsOf(owner));
  }
}

/** One record per interval at most for what a peer can cause as fast as it can send. */
export const FLOOD_LOG_INTERVAL_MS = 1_000;

/**
 * Rate-limits one kind of warning: the first occurrence is logged at once, later ones at most
 * once per interval, each record carrying how many occurred since the previous record.
 */
export class LogThrottle {
  private readonly intervalMs: number;
  private lastRecordAt = -Infinity;
  private unlogged = 0;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** Counts one occurrence; returns how many to report now, or 0 to stay quiet. */
  take(now: number): number {
    this.unlogged++;
    if (now - this.lastRecordAt < this.intervalMs) return 0;
    return this.flush(now);
  }

  /** Returns the occurrences not reported yet (and starts a new interval when there were some). */
  flush(now: number): number {
    const count = this.unlogged;
    if (count > 0) {
      this.unlogged = 0;
      this.lastRecordAt = now;
    }
    return count;
  }

  /** Like flush(), but only once the interval since the last record has passed. */
  flushIfDue(now: number): number {
    return now - this.lastRecordAt < this.intervalMs ? 0 : this.flush(now);
  }
}
