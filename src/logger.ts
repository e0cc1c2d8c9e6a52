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
