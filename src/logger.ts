import pino, { type Bindings, type Level, type Logger } from 'pino';

/**
 * The `logger` option: a pino logger (sockframe derives child loggers from it), or nothing for
 * silence. Lifecycle records are at info and debug; peer faults at warn; payload bytes never
 * above trace.
 */
export type LoggerOption = Logger | undefined;

/** The logger of everything given none: it writes nothing, so all may share it. */
const SILENT: Logger = pino({ level: 'silent' });

/** The component logger for one server or client. */
export function componentLogger(option: LoggerOption, component: string): Logger {
  if (option === undefined) return SILENT;
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
 * Rate-limits one kind of warning: the first occurrence is reported at once, later ones at most
 * once per interval, each report counting the occurrences since the previous one. What the limit
 * holds back is reported when its interval is over (an unref'd timer), or by flush().
 */
export class LogThrottle<Context> {
  private readonly intervalMs: number;
  /** Writes one record: `count` occurrences, the latest described by `latest`. */
  private readonly report: (count: number, latest: Context, atOnce: boolean) => void;
  private lastReportAt = -Infinity;
  private unreported = 0;
  private latest: Context | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(intervalMs: number, report: (count: number, latest: Context, atOnce: boolean) => void) {
    this.intervalMs = intervalMs;
    this.report = report;
  }

  /** Counts one occurrence: reported now when the interval has passed, else when it has. */
  note(occurrence: Context): void {
    this.unreported++;
    this.latest = occurrence;
    const now = Date.now();
    const wait = this.lastReportAt + this.intervalMs - now;
    if (wait <= 0) {
      this.reportNow(now, true);
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reportNow(Date.now(), false);
      }, wait);
      this.timer.unref();
    }
  }

  /** Reports what is held back at once (when its owner closes). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.reportNow(Date.now(), false);
  }

  private reportNow(now: number, atOnce: boolean): void {
    const count = this.unreported;
    if (count === 0) return;
    this.unreported = 0;
    this.lastReportAt = now;
    this.report(count, this.latest as Context, atOnce);
  }
}
