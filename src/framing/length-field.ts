import { Buffer } from 'node:buffer';
import { checkSize, show } from '../options';
import type { LengthFraming } from './framing';

export type LengthSize = 1 | 2 | 3 | 4 | 8;

/** Netty LengthFieldBasedFrameDecoder's parameters, under shorter names. */
export interface LengthFieldOptions {
  /**
   * Where the length field starts (Netty's lengthFieldOffset).
   * @default 0
   */
  lengthOffset?: number;
  /**
   * Bytes in the length field (Netty's lengthFieldLength): 1, 2, 3, 4 or 8. Read unsigned.
   * @default 4
   */
  lengthSize?: LengthSize;
  /**
   * Added to the length field's value to get the bytes that follow the field
   * (Netty's lengthAdjustment); negative when the field counts the header too.
   * @default 0
   */
  lengthAdjustment?: number;
  /**
   * Bytes cut from the front of each frame before delivery (Netty's initialBytesToStrip).
   * @default lengthOffset + lengthSize (the header is stripped)
   */
  strip?: number;
  /**
   * Byte order of the length field.
   * @default 'big'
   */
  endian?: 'big' | 'little';
  /**
   * The largest frame accepted, header included (Netty's maxFrameLength). The owner's
   * maxMessageSize also applies; the smaller wins.
   * @default no limit of its own
   */
  maxMessageSize?: number;
}

/** The framing `lengthField()` returns: a LengthFraming that also knows its parameters. */
export interface LengthFieldFraming extends LengthFraming {
  readonly lengthOffset: number;
  readonly lengthSize: LengthSize;
  readonly lengthAdjustment: number;
  readonly strip: number;
  readonly endian: 'big' | 'little';
  /** Encodes by prepending a header: `lengthOffset` zero bytes, then the length field. */
  encode(payload: Buffer): readonly Buffer[];
}

const LENGTH_SIZES: readonly number[] = [1, 2, 3, 4, 8];
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Length-field framing with Netty's parameters. The frame's whole length is
 * `lengthOffset + lengthSize + lengthAdjustment + value`.
 *
 * `lengthField()` is a 4-byte big-endian unsigned payload length, stripped on delivery:
 * the default framing of every stream server and client.
 */
export function lengthField(options: LengthFieldOptions = {}): LengthFieldFraming {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('lengthField() takes an options object.');
  }
  const lengthOffset = options.lengthOffset ?? 0;
  if (!Number.isSafeInteger(lengthOffset) || lengthOffset < 0) {
    throw new TypeError(
      `The "lengthOffset" option must be a non-negative integer; got ${show(lengthOffset)}.`,
    );
  }
  const lengthSize = options.lengthSize ?? 4;
  if (!LENGTH_SIZES.includes(lengthSize)) {
    throw new TypeError(`The "lengthSize" option must be 1, 2, 3, 4 or 8; got ${show(lengthSize)}.`);
  }
  const lengthAdjustment = options.lengthAdjustment ?? 0;
  if (!Number.isSafeInteger(lengthAdjustment)) {
    throw new TypeError(`The "lengthAdjustment" option must be an integer; got ${show(lengthAdjustment)}.`);
  }
  const headerSize = lengthOffset + lengthSize;
  const strip = options.strip ?? headerSize;
  if (!Number.isSafeInteger(strip) || strip < 0) {
    throw new TypeError(`The "strip" option must be a non-negative integer; got ${show(strip)}.`);
  }
  const endian = options.endian ?? 'big';
  if (endian !== 'big' && endian !== 'little') {
    throw new TypeError(`The "endian" option must be 'big' or 'little'; got ${show(endian)}.`);
  }
  const maxMessageSize =
    options.maxMessageSize === undefined ? undefined : checkSize('maxMessageSize', options.maxMessageSize, 0);
  const little = endian === 'little';
  const fieldMax = lengthSize === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * lengthSize) - 1;
  const extra = headerSize + lengthAdjustment;

  const readField = (head: Buffer, at: number): number => {
    switch (lengthSize) {
      case 1:
        return head[at] as number;
      case 2:
        return little ? head.readUInt16LE(at) : head.readUInt16BE(at);
      case 3:
        return little ? head.readUIntLE(at, 3) : head.readUIntBE(at, 3);
      case 4:
        return little ? head.readUInt32LE(at) : head.readUInt32BE(at);
      default:
        return Number(little ? head.readBigUInt64LE(at) : head.readBigUInt64BE(at));
    }
  };

  /**
   * The whole frame's length. An 8-byte field is added up exactly: past 2^53 a float is inexact,
   * so such a length is Infinity (refused as too large, and reported as Infinity).
   */
  const frameLength =
    lengthSize === 8
      ? (head: Buffer, at: number): number => {
          const total = (little ? head.readBigUInt64LE(at) : head.readBigUInt64BE(at)) + BigInt(extra);
          return total > MAX_SAFE_BIGINT ? Infinity : Number(total);
        }
      : (head: Buffer, at: number): number => readField(head, at) + extra;

  const writeField = (target: Buffer, at: number, value: number): void => {
    switch (lengthSize) {
      case 1:
        target[at] = value;
        return;
      case 2:
        if (little) target.writeUInt16LE(value, at);
        else target.writeUInt16BE(value, at);
        return;
      case 3:
        if (little) target.writeUIntLE(value, at, 3);
        else target.writeUIntBE(value, at, 3);
        return;
      case 4:
        // Plain byte stores: this runs once per message sent.
        if (little) {
          target[at] = value;
          target[at + 1] = value >>> 8;
          target[at + 2] = value >>> 16;
          target[at + 3] = value >>> 24;
        } else {
          target[at] = value >>> 24;
          target[at + 1] = value >>> 16;
          target[at + 2] = value >>> 8;
          target[at + 3] = value;
        }
        return;
      default:
        if (little) target.writeBigUInt64LE(BigInt(value), at);
        else target.writeBigUInt64BE(BigInt(value), at);
    }
  };

  /** Zeroes for the bytes before the length field, then the field. */
  function writeHeader(payloadLength: number, target: Buffer, offset: number): number {
    const value = payloadLength - lengthAdjustment;
    if (value < 0 || value > fieldMax) {
      throw new RangeError(
        `A payload of ${payloadLength} bytes cannot be encoded in a ${lengthSize}-byte length field with lengthAdjustment ${lengthAdjustment}.`,
      );
    }
    if (lengthOffset > 0) target.fill(0, offset, offset + lengthOffset);
    writeField(target, offset + lengthOffset, value);
    return headerSize;
  }

  const framing: LengthFieldFraming = {
    headerSize,
    lengthOffset,
    lengthSize,
    lengthAdjustment,
    strip,
    endian,
    ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    messageLength(head: Buffer): number {
      return frameLength(head, lengthOffset);
    },
    messageLengthAt(buffer: Buffer, offset: number): number {
      return frameLength(buffer, offset + lengthOffset);
    },
    maxHeaderSize: headerSize,
    encode(payload: Buffer): readonly Buffer[] {
      const header = Buffer.allocUnsafe(headerSize);
      writeHeader(payload.length, header, 0);
      return [header, payload];
    },
    encodeHeader: writeHeader,
  };
  // Frozen, so the assembler may read a 4-byte field itself instead of calling the hook.
  if (lengthSize === 4) fourByteFields.add(framing);
  return Object.freeze(framing);
}

/** Framings made by lengthField() with a 4-byte field. */
const fourByteFields = new WeakSet<object>();

/**
 * @internal Where a framing made by lengthField() keeps a 4-byte length field, so that the
 * assembler can read it inline; undefined for any other framing.
 */
export function fourByteField(framing: object): LengthFieldFraming | undefined {
  return fourByteFields.has(framing) ? (framing as LengthFieldFraming) : undefined;
}

let defaultFraming: LengthFieldFraming | undefined;

/** @internal `lengthField()`, made once: it is frozen and keeps no state, so all may share it. */
export function defaultLengthField(): LengthFieldFraming {
  return (defaultFraming ??= lengthField());
}
