import pino, { type Logger } from 'pino';

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
