/**
 * What the model tests put on the wire and how they read it back, written without any of the
 * library's framing code: each format has its own encoder and decoder here, so that a fault in
 * the library's writing cannot be hidden by the same fault in its reading.
 */
import { Buffer } from 'node:buffer';
import {
  delimited,
  fixedSize,
  lengthField,
  varint,
  type Framing,
  type FramingOption,
  type LengthFieldOptions,
} from 'sockframe';

/** The tag of a broadcast message: the same bytes go to every connection. */
export const BROADCAST = 0xffffffff;

/** One message of the model: who it is for, its number, its payload size. */
export interface Message {
  /** The connection's index, or BROADCAST. */
  readonly tag: number;
  /** Numbered per tag: per connection for its own messages, per run for broadcasts. */
  readonly seq: number;
  readonly size: number;
}

/** Bytes of the printable identity at the start of each payload: `T<tag:8 hex>S<seq:8 hex>`. */
export const IDENTITY_SIZE = 18;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/**
 * The payload of a message: its identity (cut short when the payload is shorter), then bytes
 * drawn from a cheap generator seeded by (run, tag, seq). `avoid` lists bytes that must not occur
 * (a delimiter's); the identity is hex and never contains them.
 */
export function payloadOf(run: number, message: Message, avoid: readonly number[] = []): Buffer {
  const out = Buffer.allocUnsafe(message.size);
  const identity = `T${hex8(message.tag)}S${hex8(message.seq)}`;
  const head = Math.min(IDENTITY_SIZE, message.size);
  out.write(identity.slice(0, head), 0, 'latin1');
  let x =
    (Math.imul(run ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(message.tag + 1, 0xc2b2ae35) ^ message.seq) | 0;
  if (x === 0) x = 0x6d2b79f5;
  for (let i = head; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
    if (i + 1 < out.length) out[i + 1] = x >>> 8;
    if (i + 2 < out.length) out[i + 2] = x >>> 16;
    if (i + 3 < out.length) out[i + 3] = x >>> 24;
  }
  if (avoid.length > 0) {
    for (let i = head; i < out.length; i++)
      if (avoid.includes(out[i] as number)) out[i] = (out[i] as number) ^ 0x80;
  }
  return out;
}

/** The identity a payload claims, when it starts with a whole one. */
export function identityOf(payload: Buffer): { tag: number; seq: number } | undefined {
  if (payload.length < IDENTITY_SIZE) return undefined;
  const text = payload.toString('latin1', 0, IDENTITY_SIZE);
  const match = /^T([0-9a-f]{8})S([0-9a-f]{8})$/.exec(text);
  if (match === null) return undefined;
  return { tag: parseInt(match[1] as string, 16), seq: parseInt(match[2] as string, 16) };
}

/** Finds an identity anywhere in `bytes` (the mark of another message's bytes in the wrong place). */
export function findIdentity(bytes: Buffer): { at: number; tag: number; seq: number } | undefined {
  const text = bytes.toString('latin1');
  const match = /T([0-9a-f]{8})S([0-9a-f]{8})/.exec(text);
  if (match === null) return undefined;
  return { at: match.index, tag: parseInt(match[1] as string, 16), seq: parseInt(match[2] as string, 16) };
}

/** One frame found by a test decoder: [start, end) of the frame, [payloadStart, end) its payload. */
export interface Cut {
  readonly end: number;
  readonly payloadStart: number;
  readonly payloadEnd: number;
}

/** `need`: the stream ends inside this frame (or its header). `bad`: the header cannot be right. */
export type CutResult = Cut | { readonly need: true } | { readonly bad: string };

/** A way of framing messages: the library's framing for the sender, the test's own codec for the checks. */
export interface WireFormat {
  readonly name: string;
  /** What the sending side is configured with. */
  framing(): FramingOption;
  /** The frame of `payload`, written by the test. */
  encode(payload: Buffer): Buffer;
  /** Reads the frame starting at `at` of a received stream. */
  cut(stream: Buffer, at: number): CutResult;
  /** Payload sizes this format can carry. */
  readonly minPayload: number;
  readonly maxPayload: number;
  /** Every payload has this size (fixedSize). */
  readonly fixed?: number;
  /** Bytes payloads must not contain. */
  readonly avoid: readonly number[];
}

/** Frames larger than this are taken as a corrupted header: no test sends so much in one message. */
const MAX_PLAUSIBLE_FRAME = 8 << 20;

/** lengthField(options), with the test's own reading of Netty's parameters. */
export function lengthFieldFormat(name: string, options: LengthFieldOptions): WireFormat {
  const offset = options.lengthOffset ?? 0;
  const size = options.lengthSize ?? 4;
  const adjustment = options.lengthAdjustment ?? 0;
  const little = options.endian === 'little';
  const headerSize = offset + size;
  const fieldMax = size === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * size) - 1;
  return {
    name,
    framing: () => lengthField(options),
    encode(payload) {
      const header = Buffer.alloc(headerSize);
      const value = payload.length - adjustment;
      if (size === 8) {
        if (little) header.writeBigUInt64LE(BigInt(value), offset);
        else header.writeBigUInt64BE(BigInt(value), offset);
      } else if (little) header.writeUIntLE(value, offset, size);
      else header.writeUIntBE(value, offset, size);
      return Buffer.concat([header, payload]);
    },
    cut(stream, at) {
      if (stream.length - at < headerSize) return { need: true };
      for (let i = 0; i < offset; i++) {
        if (stream[at + i] !== 0)
          return { bad: `byte ${i} before the length field is ${stream[at + i]}, not 0` };
      }
      const value =
        size === 8
          ? Number(little ? stream.readBigUInt64LE(at + offset) : stream.readBigUInt64BE(at + offset))
          : little
            ? stream.readUIntLE(at + offset, size)
            : stream.readUIntBE(at + offset, size);
      const frame = headerSize + value + adjustment;
      if (frame < headerSize || frame > MAX_PLAUSIBLE_FRAME) return { bad: `length field reads ${value}` };
      if (stream.length - at < frame) return { need: true };
      return { end: at + frame, payloadStart: at + headerSize, payloadEnd: at + frame };
    },
    minPayload: Math.max(0, adjustment),
    maxPayload: Math.min(fieldMax + adjustment, 4 << 20),
    avoid: [],
  };
}

export function varintFormat(): WireFormat {
  return {
    name: 'varint',
    framing: () => varint(),
    encode(payload) {
      const prefix: number[] = [];
      let rest = payload.length;
      while (rest >= 0x80) {
        prefix.push((rest & 0x7f) | 0x80);
        rest >>>= 7;
      }
      prefix.push(rest);
      return Buffer.concat([Buffer.from(prefix), payload]);
    },
    cut(stream, at) {
      let value = 0;
      let scale = 1;
      for (let i = 0; i < 5; i++) {
        if (at + i >= stream.length) return { need: true };
        const byte = stream[at + i] as number;
        value += (byte & 0x7f) * scale;
        if (byte < 0x80) {
          const frame = i + 1 + value;
          if (frame > MAX_PLAUSIBLE_FRAME) return { bad: `varint prefix reads ${value}` };
          if (stream.length - at < frame) return { need: true };
          return { end: at + frame, payloadStart: at + i + 1, payloadEnd: at + frame };
        }
        scale *= 128;
      }
      return { bad: 'varint prefix longer than 5 bytes' };
    },
    minPayload: 0,
    maxPayload: 4 << 20,
    avoid: [],
  };
}

export function delimitedFormat(delimiter: string): WireFormat {
  const bytes = Buffer.from(delimiter, 'latin1');
  return {
    name: `delimited(${JSON.stringify(delimiter)})`,
    framing: () => delimited({ delimiter }),
    encode: (payload) => Buffer.concat([payload, bytes]),
    cut(stream, at) {
      const found = stream.indexOf(bytes, at);
      if (found < 0) {
        return stream.length - at > MAX_PLAUSIBLE_FRAME ? { bad: 'no delimiter' } : { need: true };
      }
      return { end: found + bytes.length, payloadStart: at, payloadEnd: found };
    },
    minPayload: 0,
    maxPayload: 4 << 20,
    avoid: [...new Set(bytes)],
  };
}

export function fixedFormat(size: number): WireFormat {
  return {
    name: `fixedSize(${size})`,
    framing: () => fixedSize(size),
    encode: (payload) => payload,
    cut(stream, at) {
      if (stream.length - at < size) return { need: true };
      return { end: at + size, payloadStart: at, payloadEnd: at + size };
    },
    minPayload: size,
    maxPayload: size,
    fixed: size,
    avoid: [],
  };
}

const MAGIC_0 = 0x5a;
const MAGIC_1 = 0xa5;
const CUSTOM_HEADER = 6;

/**
 * A user's own header, the way the README teaches it: two magic bytes and a 32-bit little-endian
 * length of the whole frame, header included; delivered whole (strip 0). Its encode returns one
 * buffer for small payloads and header and payload apart for big ones, as users write either.
 */
export function customHeaderFraming(): Framing {
  return {
    headerSize: CUSTOM_HEADER,
    messageLength(head: Buffer): number {
      if (head[0] !== MAGIC_0 || head[1] !== MAGIC_1) throw new Error('bad magic');
      return head.readUInt32LE(2);
    },
    encode(payload: Buffer): Buffer | readonly Buffer[] {
      const header = Buffer.allocUnsafe(CUSTOM_HEADER);
      header[0] = MAGIC_0;
      header[1] = MAGIC_1;
      header.writeUInt32LE(CUSTOM_HEADER + payload.length, 2);
      return payload.length < 4096 ? Buffer.concat([header, payload]) : [header, payload];
    },
  };
}

/** The custom header; `perConnection` passes it as a factory (each connection encodes on its own). */
export function customFormat(perConnection: boolean): WireFormat {
  return {
    name: perConnection ? 'custom header (factory)' : 'custom header',
    framing: () => (perConnection ? customHeaderFraming : customHeaderFraming()),
    encode(payload) {
      const header = Buffer.from([MAGIC_0, MAGIC_1, 0, 0, 0, 0]);
      header.writeUInt32LE(CUSTOM_HEADER + payload.length, 2);
      return Buffer.concat([header, payload]);
    },
    cut(stream, at) {
      if (stream.length - at < CUSTOM_HEADER) return { need: true };
      if (stream[at] !== MAGIC_0 || stream[at + 1] !== MAGIC_1) {
        return { bad: `magic is ${stream.toString('hex', at, at + 2)}, not 5aa5` };
      }
      const frame = stream.readUInt32LE(at + 2);
      if (frame < CUSTOM_HEADER || frame > MAX_PLAUSIBLE_FRAME) return { bad: `length reads ${frame}` };
      if (stream.length - at < frame) return { need: true };
      return { end: at + frame, payloadStart: at + CUSTOM_HEADER, payloadEnd: at + frame };
    },
    minPayload: 0,
    maxPayload: 4 << 20,
    avoid: [],
  };
}

/** Every format the suite covers, by key. */
export const FORMATS = {
  'length-default': () => lengthFieldFormat('lengthField()', {}),
  'length-u16le': () =>
    lengthFieldFormat('lengthField(u16 little-endian)', { lengthSize: 2, endian: 'little' }),
  'length-offset': () =>
    lengthFieldFormat('lengthField(offset 2, u24, counts header)', {
      lengthOffset: 2,
      lengthSize: 3,
      lengthAdjustment: -5,
    }),
  'length-u64': () => lengthFieldFormat('lengthField(u64)', { lengthSize: 8 }),
  varint: varintFormat,
  'delimited-lf': () => delimitedFormat('\n'),
  'delimited-crlf': () => delimitedFormat('\r\n'),
  fixed: (size: number) => fixedFormat(size),
  custom: () => customFormat(false),
  'custom-factory': () => customFormat(true),
} as const;
