import { checkSize } from '../options';
import type { FrameScanner, ScanFraming } from './framing';

export interface DelimitedOptions {
  /**
   * The bytes that end each message; not part of the delivered message.
   * @default '\n'
   */
  delimiter?: string | Uint8Array;
  /**
   * The largest frame accepted, delimiter included; also bounds bytes held with no delimiter yet.
   * The owner's maxMessageSize also applies.
   * @default no limit of its own
   */
  maxMessageSize?: number;
}

/**
 * Delimiter framing (newline by default). Each byte is scanned once, however the stream is split,
 * including a delimiter that straddles two reads. Sending a payload that contains the delimiter
 * throws a RangeError, since the peer would read it as two messages.
 */
export function delimited(
  options: DelimitedOptions = {},
): ScanFraming & { readonly delimiter: Buffer; encode(payload: Buffer): readonly Buffer[] } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('delimited() takes an options object.');
  }
  const raw = options.delimiter ?? '\n';
  if (typeof raw !== 'string' && !(raw instanceof Uint8Array)) {
    throw new TypeError('The "delimiter" option must be a string or a Uint8Array.');
  }
  const delimiter = Buffer.from(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  if (delimiter.length === 0) {
    throw new TypeError('The "delimiter" option must not be empty.');
  }
  const maxMessageSize =
    options.maxMessageSize === undefined ? undefined : checkSize('maxMessageSize', options.maxMessageSize, 0);
  const failure = failureTable(delimiter);
  // When the delimiter's end repeats its start ("\r\n\r\n", "abab"), a payload's tail can run into
  // the delimiter sent after it and form an earlier one: "x\r\n" + "\r\n\r\n" reads as "x".
  const selfOverlapping = (failure[delimiter.length - 1] as number) > 0;
  const formsDelimiterWithTail = (payload: Buffer): boolean => {
    const tail = payload.subarray(Math.max(0, payload.length - delimiter.length + 1));
    return Buffer.concat([tail, delimiter]).indexOf(delimiter) < tail.length;
  };
  return {
    delimiter,
    trailer: delimiter.length,
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    createScanner(): FrameScanner {
      return delimiter.length === 1
        ? byteScanner(delimiter[0] as number)
        : new DelimiterScanner(delimiter, failure);
    },
    encode(payload: Buffer): readonly Buffer[] {
      if (payload.indexOf(delimiter) !== -1) {
        throw new RangeError('The payload contains the delimiter; the peer would read it as two messages.');
      }
      if (selfOverlapping && formsDelimiterWithTail(payload)) {
        throw new RangeError(
          'The payload ends with bytes that form the delimiter with the one sent after it; the peer would read it as two messages.',
        );
      }
      return [payload, delimiter];
    },
  };
}

function byteScanner(byte: number): FrameScanner {
  return {
    scan(bytes: Buffer): number {
      const at = bytes.indexOf(byte);
      return at < 0 ? -1 : at + 1;
    },
    reset(): void {},
  };
}

/** KMP failure function: for each prefix, the length of its longest proper border. */
function failureTable(pattern: Buffer): Int32Array {
  const table = new Int32Array(pattern.length);
  let k = 0;
  for (let i = 1; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = table[k - 1] as number;
    if (pattern[i] === pattern[k]) k++;
    table[i] = k;
  }
  return table;
}

/**
 * Multi-byte delimiter search: native indexOf inside a chunk, and a KMP state machine only
 * across chunk boundaries, so no byte is examined more than a bounded number of times.
 */
class DelimiterScanner implements FrameScanner {
  /** How many delimiter bytes the end of the previous input matched. */
  private matched = 0;

  constructor(
    private readonly delimiter: Buffer,
    private readonly failure: Int32Array,
  ) {}

  scan(bytes: Buffer): number {
    const d = this.delimiter;
    let i = 0;
    // Finish a match that straddles from the previous input.
    while (this.matched > 0 && i < bytes.length) {
      this.matched = this.step(this.matched, bytes[i] as number);
      i++;
      if (this.matched === d.length) {
        this.matched = 0;
        return i;
      }
    }
    if (i >= bytes.length) return -1;
    const at = bytes.indexOf(d, i);
    if (at >= 0) return at + d.length;
    // No whole delimiter: remember how much of one the tail of these bytes starts.
    let state = 0;
    for (let j = Math.max(i, bytes.length - (d.length - 1)); j < bytes.length; j++) {
      state = this.step(state, bytes[j] as number);
    }
    this.matched = state;
    return -1;
  }

  reset(): void {
    this.matched = 0;
  }

  private step(state: number, byte: number): number {
    const d = this.delimiter;
    let k = state;
    while (k > 0 && d[k] !== byte) k = this.failure[k - 1] as number;
    if (d[k] === byte) k++;
    return k;
  }
}
