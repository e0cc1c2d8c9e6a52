import { checkSize } from '../options';
import type { FrameScanner, ScanFraming } from './framing';

const LF = 0x0a;
const CR = 0x0d;

export interface LinesOptions {
  /**
   * What `send()` writes after each line. Either way, received lines may end with either.
   * @default '\n'
   */
  eol?: '\n' | '\r\n';
  /**
   * The largest frame accepted, line ending included; also bounds the bytes held while no line
   * ending has arrived (a peer that never sends one is cut off at this size with
   * `ERR_FRAME_TOO_LARGE`). The owner's maxMessageSize also applies; the smaller wins.
   * @default no limit of its own
   */
  maxMessageSize?: number;
}

/** The framing `lines()` returns. */
export interface LinesFraming extends ScanFraming {
  /** The line ending `send()` writes. */
  readonly eol: '\n' | '\r\n';
  /** Writes the line, then `eol`. */
  encode(line: Buffer): readonly Buffer[];
}

/**
 * Text lines as Netty's LineBasedFrameDecoder reads them: a line ends at `\n` or at `\r\n`, the
 * ending is not delivered, and both may be mixed in one stream. A `\r` that is not followed by
 * `\n` is part of the line. Sending a line that contains `\n`, or ends with `\r` (the peer would
 * take that `\r` for part of the line ending), throws a RangeError.
 */
export function lines(options: LinesOptions = {}): LinesFraming {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('lines() takes an options object.');
  }
  const eol = options.eol ?? '\n';
  if (eol !== '\n' && eol !== '\r\n') {
    throw new TypeError(`The "eol" option must be '\\n' or '\\r\\n'; got ${JSON.stringify(eol)}.`);
  }
  const maxMessageSize =
    options.maxMessageSize === undefined ? undefined : checkSize('maxMessageSize', options.maxMessageSize, 0);
  const ending = Buffer.from(eol, 'latin1');
  return Object.freeze({
    eol,
    // The shorter ending; the scanner reports a `\r\n` through lastTrailer.
    trailer: 1,
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    createScanner: (): FrameScanner => new LineScanner(),
    encode(line: Buffer): readonly Buffer[] {
      if (line.indexOf(LF) !== -1) {
        throw new RangeError('The line contains "\\n"; the peer would read it as two lines.');
      }
      if (line.length > 0 && line[line.length - 1] === CR) {
        throw new RangeError('The line ends with "\\r"; the peer would take it for part of the line ending.');
      }
      return [line, ending];
    },
  });
}

class LineScanner implements FrameScanner {
  lastTrailer = 1;
  /** Whether the last byte of the previous input, in the current line, was `\r`. */
  private carriageReturn = false;

  scan(bytes: Buffer): number {
    const at = bytes.indexOf(LF);
    if (at < 0) {
      if (bytes.length > 0) this.carriageReturn = bytes[bytes.length - 1] === CR;
      return -1;
    }
    const crlf = at > 0 ? bytes[at - 1] === CR : this.carriageReturn;
    this.lastTrailer = crlf ? 2 : 1;
    this.carriageReturn = false;
    return at + 1;
  }

  reset(): void {
    this.carriageReturn = false;
    this.lastTrailer = 1;
  }
}
