import { Buffer } from 'node:buffer';
import { InvalidFrameLengthError } from '../errors';
import { checkSize } from '../options';
import { NEED_MORE, type FrameLength, type LengthFraming } from './framing';

export interface ContentLengthOptions {
  /**
   * The largest frame accepted, header included. The owner's maxMessageSize also applies; the
   * smaller wins.
   * @default no limit of its own
   */
  maxMessageSize?: number;
}

/** The framing `contentLength()` returns. */
export interface ContentLengthFraming extends LengthFraming {
  /** Writes `Content-Length: N\r\n\r\n` before the payload. */
  encode(payload: Buffer): readonly Buffer[];
  encodeHeader(payloadLength: number, target: Buffer, offset: number): number;
}

const END_OF_HEADER = Buffer.from('\r\n\r\n', 'latin1');
const PREFIX = 'Content-Length: ';
/** "Content-Length: " + up to 16 digits (2^53) + "\r\n\r\n". */
const MAX_HEADER_SIZE = PREFIX.length + 16 + 4;
/** An HTTP header field name (RFC 9110 token) followed by ':'. */
const FIELD = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/;

/**
 * The Language Server Protocol's base framing: a header of `Name: value\r\n` lines (ASCII),
 * `Content-Length` required and others (such as `Content-Type`) allowed, ended by an empty line,
 * then exactly Content-Length bytes of payload. The header is stripped on delivery.
 *
 * The header's end is searched from where the previous attempt stopped (the `seen` argument), so a
 * header arriving byte by byte costs linear time. It is bounded by the owner's `maxHeaderBytes`
 * (64 KiB by default) and the frame by `maxMessageSize`; a malformed header (no Content-Length,
 * two of them, a value that is not a decimal number, a line that is not a header field) fails the
 * connection with ERR_INVALID_FRAME_LENGTH.
 */
export function contentLength(options: ContentLengthOptions = {}): ContentLengthFraming {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('contentLength() takes an options object.');
  }
  const maxMessageSize =
    options.maxMessageSize === undefined ? undefined : checkSize('maxMessageSize', options.maxMessageSize, 0);
  return {
    // The shortest header that can be decided on is its terminator.
    headerSize: END_OF_HEADER.length,
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    maxHeaderSize: MAX_HEADER_SIZE,
    messageLength(head: Buffer, seen = 0): FrameLength | typeof NEED_MORE {
      // A terminator may straddle the bytes seen before and those that followed.
      const end = head.indexOf(END_OF_HEADER, Math.max(0, seen - (END_OF_HEADER.length - 1)));
      if (end < 0) return NEED_MORE;
      const strip = end + END_OF_HEADER.length;
      return { length: strip + bodyLength(head.toString('latin1', 0, end)), strip };
    },
    encode(payload: Buffer): readonly Buffer[] {
      return [Buffer.from(`${PREFIX}${payload.length}\r\n\r\n`, 'latin1'), payload];
    },
    encodeHeader(payloadLength: number, target: Buffer, offset: number): number {
      return target.write(`${PREFIX}${payloadLength}\r\n\r\n`, offset, 'latin1');
    },
  };
}

/** The Content-Length of a header (its lines, without the final empty line). */
function bodyLength(header: string): number {
  let length = -1;
  for (const line of header.split('\r\n')) {
    const field = FIELD.exec(line);
    if (field === null) {
      throw new InvalidFrameLengthError(`Malformed header line: ${JSON.stringify(line.slice(0, 80))}`, line);
    }
    if ((field[1] as string).toLowerCase() !== 'content-length') continue;
    const value = field[2] as string;
    if (length >= 0) throw new InvalidFrameLengthError('Two Content-Length header fields', value);
    if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new InvalidFrameLengthError(
        `Content-Length is not a decimal length: ${JSON.stringify(value.slice(0, 40))}`,
        value,
      );
    }
    length = Number(value);
  }
  if (length < 0)
    throw new InvalidFrameLengthError('The header has no Content-Length field', header.slice(0, 80));
  return length;
}
