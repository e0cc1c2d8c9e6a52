import { fixedSize } from '../../src/framing/fixed';
import { FrameTooLargeError } from '../../src/errors';
import {
  encodeAll,
  isViewOf,
  pseudoRandomBytes,
  pushCut,
  pushInChunks,
  record,
  texts,
  unpooled,
} from './helpers';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('fixedSize(n): cutting the stream', () => {
  test("Netty's FixedLengthFrameDecoder example: A | BC | DEFG | HI reads as ABC, DEF, GHI", () => {
    const { assembler, messages, errors } = record({ framing: fixedSize(3) });
    for (const chunk of ['A', 'BC', 'DEFG', 'HI']) assembler.push(latin1(chunk));
    expect(texts(messages)).toEqual(['ABC', 'DEF', 'GHI']);
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(0);
  });

  const PAYLOADS = ['abcde', 'fghij', '\0\0\0\0\0', 'vwxyz', '12345'];
  const STREAM = latin1(PAYLOADS.join(''));

  test('split at every offset', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const { assembler, messages, errors } = record({ framing: fixedSize(5) });
      pushCut(assembler, STREAM, [cut]);
      expect(texts(messages)).toEqual(PAYLOADS);
      expect(errors).toEqual([]);
      expect(assembler.bufferedBytes).toBe(0);
    }
  });

  test('split at every pair of offsets', () => {
    const wrong: string[] = [];
    for (let a = 0; a <= STREAM.length; a++) {
      for (let b = a; b <= STREAM.length; b++) {
        const { assembler, messages } = record({ framing: fixedSize(5) });
        pushCut(assembler, STREAM, [a, b]);
        if (texts(messages).join('|') !== PAYLOADS.join('|')) wrong.push(`${a},${b}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('byte by byte, each message on its last byte, the rest held', () => {
    const { assembler, messages } = record({ framing: fixedSize(5) });
    for (let i = 0; i < STREAM.length; i++) {
      assembler.push(STREAM.subarray(i, i + 1));
      expect(messages).toHaveLength(Math.floor((i + 1) / 5));
      expect(assembler.bufferedBytes).toBe((i + 1) % 5);
    }
    expect(texts(messages)).toEqual(PAYLOADS);
  });

  test('fixedSize(1) makes every byte a message', () => {
    const { assembler, messages } = record({ framing: fixedSize(1) });
    assembler.push(latin1('abc'));
    assembler.push(latin1('d'));
    expect(texts(messages)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a trailing partial message waits for the rest', () => {
    const { assembler, messages } = record({ framing: fixedSize(4) });
    assembler.push(latin1('abcdef'));
    expect(texts(messages)).toEqual(['abcd']);
    expect(assembler.bufferedBytes).toBe(2);
    assembler.push(latin1('gh'));
    expect(texts(messages)).toEqual(['abcd', 'efgh']);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('messages inside a chunk are views of it; one spanning chunks is copied', () => {
    const a = unpooled('aaaabb');
    const b = unpooled('bbcccc');
    const { assembler, messages } = record({ framing: fixedSize(4) });
    assembler.push(a);
    assembler.push(b);
    expect(texts(messages)).toEqual(['aaaa', 'bbbb', 'cccc']);
    expect(isViewOf(messages[0] as Buffer, a)).toBe(true);
    expect(isViewOf(messages[2] as Buffer, b)).toBe(true);
    expect(messages[1]?.buffer).not.toBe(a.buffer);
    expect(messages[1]?.buffer).not.toBe(b.buffer);
  });

  test('large messages split in uneven chunks round-trip byte for byte', () => {
    const size = 100_000;
    const payloads = [1, 2, 3].map((seed) => pseudoRandomBytes(size, seed));
    const stream = encodeAll(fixedSize(size), payloads);
    for (const chunk of [1460, 65_536, 99_999, 100_001]) {
      const { assembler, messages, errors } = record({ framing: fixedSize(size) });
      pushInChunks(assembler, stream, chunk);
      expect(errors).toEqual([]);
      expect(messages).toHaveLength(3);
      messages.forEach((message, i) => expect(message.equals(payloads[i] as Buffer)).toBe(true));
    }
  });
});

describe('fixedSize(n): limits', () => {
  test('the framing declares n as its maxMessageSize', () => {
    expect(fixedSize(7).maxMessageSize).toBe(7);
    expect(record({ framing: fixedSize(7) }).assembler.maxMessageSize).toBe(7);
  });

  test("n above the assembler's maxMessageSize fails with ERR_FRAME_TOO_LARGE on the first byte", () => {
    const { assembler, messages, errors } = record({ framing: fixedSize(64), maxMessageSize: 63 });
    assembler.push(latin1('x'));
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBe(64);
    expect(err.limit).toBe(63);
    expect(assembler.bufferedBytes).toBe(0);
    assembler.push(Buffer.alloc(200));
    expect(messages).toEqual([]);
  });

  test('n equal to the limit is accepted', () => {
    const { assembler, messages, errors } = record({ framing: fixedSize(64), maxMessageSize: 64 });
    assembler.push(Buffer.alloc(128, 1));
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(2);
  });
});

describe('fixedSize(n): encode', () => {
  test('a payload of exactly n bytes goes out as it is, uncopied', () => {
    const framing = fixedSize(4);
    const payload = latin1('abcd');
    expect(framing.encode(payload)).toBe(payload);
  });

  test.each([0, 1, 3, 5, 100])(
    'a payload of %i bytes is refused by fixedSize(4) with a RangeError',
    (size) => {
      const framing = fixedSize(4);
      expect(() => framing.encode(Buffer.alloc(size))).toThrow(
        new RangeError(`fixedSize(4) sends payloads of exactly 4 bytes; got ${size}.`),
      );
    },
  );

  test('encoded payloads read back through the assembler', () => {
    const framing = fixedSize(3);
    const payloads = ['abc', '\0\0\0', 'xyz'].map(latin1);
    const { assembler, messages } = record({ framing });
    pushInChunks(assembler, encodeAll(framing, payloads), 2);
    expect(texts(messages)).toEqual(texts(payloads));
  });
});

describe('fixedSize(n): validation', () => {
  test.each<[unknown, string]>([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [2 ** 53, String(2 ** 53)],
    ['4', '"4"'],
    [undefined, 'undefined'],
    [null, 'null'],
  ])('n = %p is a TypeError', (size, shown) => {
    expect(() => fixedSize(size as number)).toThrow(
      new TypeError(`fixedSize() needs a positive integer size; got ${shown}.`),
    );
  });

  test('the largest safe integer is a valid size (the assembler limit then applies)', () => {
    const framing = fixedSize(Number.MAX_SAFE_INTEGER);
    expect(framing.maxMessageSize).toBe(Number.MAX_SAFE_INTEGER);
    const { assembler, errors } = record({ framing });
    assembler.push(latin1('x'));
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect((errors[0] as FrameTooLargeError).limit).toBe(16 * 1024 * 1024);
  });
});
