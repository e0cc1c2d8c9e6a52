import { show } from '../options';
import type { LengthFraming } from './framing';

/** Every message is exactly `size` bytes; nothing is added on the wire. */
export function fixedSize(size: number): LengthFraming & { encode(payload: Buffer): Buffer } {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new TypeError(`fixedSize() needs a positive integer size; got ${show(size)}.`);
  }
  return {
    headerSize: 1,
    maxMessageSize: size,
    messageLength(): number {
      return size;
    },
    messageLengthAt(): number {
      return size;
    },
    encode(payload: Buffer): Buffer {
      if (payload.length !== size) {
        throw new RangeError(
          `fixedSize(${size}) sends payloads of exactly ${size} bytes; got ${payload.length}.`,
        );
      }
      return payload;
    },
  };
}
