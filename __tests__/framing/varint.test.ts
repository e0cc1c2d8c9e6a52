import { encodeVarint, varint } from '../../src/framing/varint';
import { NEED_MORE } from '../../src/framing/framing';
import { FrameTooLargeError, InvalidFrameLengthError } from '../../src/errors';
import { encodeAll, fingerprints, pseudoRandomBytes, pushCut, pushInChunks, record, texts } from './helpers';

/** Reference LEB128 decoder with BigInt, independent of the code under test. */
function decodeReference(bytes: Buffer): bigint {
  let value = 0n;
  let shift = 0n;
  for (const byte of bytes) {
    value |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if (byte < 0x80) return value;
  }
  throw new Error('unterminated varint');
}

describe('varint: the prefix bytes', () => {
  test.each<[number, number[]]>([
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2 ** 21 - 1, [0xff, 0xff, 0x7f]],
    [2 ** 21, [0x80, 0x80, 0x80, 0x01]],
    [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
    [Number.MAX_SAFE_INTEGER, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ])('%i encodes as %j and decodes back', (value, expected) => {
    const encoded = encodeVarint(value);
    expect([...encoded]).toEqual(expected);
    expect(decodeReference(encoded)).toBe(BigInt(value));

    const framing = varint();
    // Past 2^53 a sum is inexact: such a frame length is Infinity.
    const length = expected.length + value > Number.MAX_SAFE_INTEGER ? Infinity : expected.length + value;
    expect(framing.messageLength(encoded)).toEqual({ length, strip: expected.length });
    // More bytes after the prefix change nothing.
    expect(framing.messageLength(Buffer.concat([encoded, Buffer.alloc(3, 0xff)]))).toEqual({
      length,
      strip: expected.length,
    });
    // encodeHeader writes the same bytes in place.
    const target = Buffer.alloc(12, 0xee);
    expect(framing.encodeHeader?.(value, target, 1)).toBe(expected.length);
    expect([...target.subarray(1, 1 + expected.length)]).toEqual(expected);
    expect(target[1 + expected.length]).toBe(0xee);
    expect(framing.maxHeaderSize).toBe(10);
  });

  test('an incomplete prefix asks for more', () => {
    const framing = varint();
    expect(framing.messageLength(Buffer.from([0x80]))).toBe(NEED_MORE);
    expect(framing.messageLength(Buffer.from([0xff, 0xff, 0xff]))).toBe(NEED_MORE);
    expect(framing.messageLength(Buffer.alloc(9, 0x80))).toBe(NEED_MORE);
  });
});

describe('varint: round trips through the assembler', () => {
  const SIZES = [0, 1, 127, 128, 16383, 16384, 2 ** 21];

  test.each(SIZES)('a payload of %i bytes', (size) => {
    const framing = varint();
    const payload = pseudoRandomBytes(size, size + 1);
    const stream = encodeAll(framing, [payload, Buffer.from('next')]);
    for (const chunk of [stream.length, 4096, size > 20_000 ? 1000 : 3]) {
      const { assembler, messages, errors } = record({ framing: varint() });
      pushInChunks(assembler, stream, chunk);
      expect(errors).toEqual([]);
      expect(fingerprints(messages)).toEqual(fingerprints([payload, Buffer.from('next')]));
    }
  });

  test('prefixes of every length straddling chunks, one byte at a time', () => {
    const payloads = [0, 5, 127, 128, 200, 16383, 16384, 3].map((n) => Buffer.alloc(n, n & 0xff));
    const stream = encodeAll(varint(), payloads);
    const { assembler, messages, errors } = record({ framing: varint() });
    pushInChunks(assembler, stream, 1);
    expect(errors).toEqual([]);
    expect(fingerprints(messages)).toEqual(fingerprints(payloads));
  });

  test('small messages split at every offset', () => {
    const payloads = ['', 'a', 'x'.repeat(130), 'bc', ''].map((s) => Buffer.from(s));
    const stream = encodeAll(varint(), payloads);
    for (let cut = 0; cut <= stream.length; cut++) {
      const { assembler, messages } = record({ framing: varint() });
      pushCut(assembler, stream, [cut]);
      expect(texts(messages)).toEqual(payloads.map((p) => p.toString()));
    }
  });
});

describe('varint: hostile prefixes', () => {
  test('an 11-byte varint is ERR_INVALID_FRAME_LENGTH, whole or byte by byte', () => {
    const eleven = Buffer.from([...Buffer.alloc(10, 0x80), 0x01]);
    for (const chunk of [eleven.length, 1]) {
      const { assembler, errors, messages } = record({ framing: varint() });
      pushInChunks(assembler, eleven, chunk);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
      expect(errors[0]?.code).toBe('ERR_INVALID_FRAME_LENGTH');
      expect(messages).toEqual([]);
    }
  });

  test('ten continuation bytes are refused as soon as the tenth arrives', () => {
    const { assembler, errors } = record({ framing: varint() });
    for (let i = 0; i < 9; i++) assembler.push(Buffer.from([0xff]));
    expect(errors).toEqual([]);
    assembler.push(Buffer.from([0xff]));
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });

  test('a tenth byte above 1 overflows 64 bits: ERR_INVALID_FRAME_LENGTH', () => {
    const { assembler, errors } = record({ framing: varint() });
    assembler.push(Buffer.from([...Buffer.alloc(9, 0xff), 0x02]));
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });

  test.each<[string, number[]]>([
    ['2^64 - 1', [...Buffer.alloc(9, 0xff), 0x01]],
    ['2^53', [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]],
    ['17 MiB', [...encodeVarint(17 * 1024 * 1024)]],
  ])('a length of %s is ERR_FRAME_TOO_LARGE before the body', (_label, prefix) => {
    for (const chunk of [prefix.length, 1]) {
      const { assembler, errors } = record({ framing: varint() });
      pushInChunks(assembler, Buffer.from(prefix), chunk);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
      expect(errors[0]?.code).toBe('ERR_FRAME_TOO_LARGE');
      expect(assembler.bufferedBytes).toBe(0);
    }
  });

  test("varint's own maxMessageSize counts the prefix", () => {
    const framing = varint({ maxMessageSize: 129 });
    expect(framing.maxMessageSize).toBe(129);
    const fits = record({ framing });
    fits.assembler.push(Buffer.from([0x7f, ...Buffer.alloc(127)]));
    expect(fits.messages).toHaveLength(1);
    const over = record({ framing });
    over.assembler.push(encodeVarint(128)); // 130 bytes with its 2-byte prefix
    expect(over.errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect(() => varint({ maxMessageSize: 0 })).toThrow(TypeError);
  });

  test('options that are not an object are a TypeError that says so', () => {
    for (const bad of [null, 5, 'big']) {
      expect(() => varint(bad as unknown as { maxMessageSize?: number })).toThrow(
        new TypeError('varint() takes an options object.'),
      );
    }
  });
});
