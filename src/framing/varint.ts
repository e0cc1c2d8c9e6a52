import { InvalidFrameLengthError } from '../errors';
import { checkSize } from '../options';
import { NEED_MORE, type FrameLength, type LengthFraming } from './framing';

export interface VarintOptions {
  /**
   * The largest frame accepted, prefix included. The owner's maxMessageSize also applies.
   * @default no limit of its own
   */
  maxMessageSize?: number;
}

/** The longest unsigned varint: 64 bits in groups of 7. */
const MAX_VARINT_BYTES = 10;

/**
 * Protobuf-style framing: an unsigned LEB128 varint of the payload length, then the payload.
 * The prefix (1 to 10 bytes) is stripped on delivery.
 */
export function varint(
  options: VarintOptions = {},
): LengthFraming & { encode(payload: Buffer): readonly Buffer[] } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('varint() takes an options object.');
  }
  const maxMessageSize =
    options.maxMessageSize === undefined ? undefined : checkSize('maxMessageSize', options.maxMessageSize, 0);
  return {
    headerSize: 1,
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    messageLength(head: Buffer): FrameLength | typeof NEED_MORE {
      let value = 0;
      let scale = 1;
      const end = Math.min(head.length, MAX_VARINT_BYTES);
      for (let i = 0; i < end; i++) {
        const byte = head[i] as number;
        value += (byte & 0x7f) * scale;
        if (byte < 0x80) {
          if (i === MAX_VARINT_BYTES - 1 && byte > 1) {
            throw new InvalidFrameLengthError('Varint length prefix exceeds 64 bits', value);
          }
          // Past 2^53 the sum is inexact: such a length is reported as Infinity (and refused).
          const length = i + 1 + value;
          return { length: length > Number.MAX_SAFE_INTEGER ? Infinity : length, strip: i + 1 };
        }
        scale *= 128;
      }
      if (head.length >= MAX_VARINT_BYTES) {
        throw new InvalidFrameLengthError('Varint length prefix is longer than 10 bytes', undefined);
      }
      return NEED_MORE;
    },
    encode(payload: Buffer): readonly Buffer[] {
      return [encodeVarint(payload.length), payload];
    },
    maxHeaderSize: MAX_VARINT_BYTES,
    encodeHeader(payloadLength: number, target: Buffer, offset: number): number {
      let rest = payloadLength;
      let at = offset;
      while (rest >= 0x80) {
        target[at++] = (rest % 128) | 0x80;
        rest = Math.floor(rest / 128);
      }
      target[at++] = rest;
      return at - offset;
    },
  };
}

/** The unsigned varint bytes of a non-negative safe integer. */
export function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
