import { delimited } from '../../src/framing/delimiter';
import type { FrameScanner, ScanFraming } from '../../src/framing/framing';
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

/**
 * The messages a delimiter stream holds, found the plain way (indexOf over the whole stream from
 * the end of the previous message), and how many trailing bytes belong to no message yet.
 */
function reference(stream: Buffer, delimiter: Buffer): { messages: string[]; rest: number } {
  const messages: string[] = [];
  let from = 0;
  for (;;) {
    const at = stream.indexOf(delimiter, from);
    if (at < 0) return { messages, rest: stream.length - from };
    messages.push(stream.toString('latin1', from, at));
    from = at + delimiter.length;
  }
}

/** Every string of length 0..maxLength over the alphabet. */
function allStrings(alphabet: string, maxLength: number): string[] {
  const out = [''];
  let layer = [''];
  for (let length = 1; length <= maxLength; length++) {
    layer = layer.flatMap((s) => [...alphabet].map((c) => s + c));
    out.push(...layer);
  }
  return out;
}

function accepts(framing: ReturnType<typeof delimited>, payload: Buffer): boolean {
  try {
    framing.encode(payload);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(RangeError);
    return false;
  }
}

/** Wraps a scanning framing to count the bytes its scanners consume and how often they are called. */
function counted(framing: ScanFraming): {
  framing: ScanFraming;
  consumed: () => number;
  calls: () => number;
} {
  let consumed = 0;
  let calls = 0;
  const wrapped: ScanFraming = {
    trailer: framing.trailer,
    createScanner(): FrameScanner {
      const inner = framing.createScanner();
      return {
        scan(bytes: Buffer): number {
          calls++;
          const end = inner.scan(bytes);
          // A scanner reads up to the end of the delimiter it finds, or everything it was given.
          consumed += end < 0 ? bytes.length : end;
          return end;
        },
        reset: () => inner.reset(),
      };
    },
  };
  return { framing: wrapped, consumed: () => consumed, calls: () => calls };
}

/**
 * Counts the bytes Buffer#indexOf searches while `run` runs: from the start offset to the end of
 * the first match, or to the end of the buffer when there is none.
 */
function searchedBytes(run: () => void): number {
  const proto = Buffer.prototype as Buffer;
  const original = Reflect.get(proto, 'indexOf') as (this: Buffer, ...args: unknown[]) => number;
  let searched = 0;
  const spy = jest.spyOn(proto, 'indexOf').mockImplementation(function (
    this: Buffer,
    ...args: unknown[]
  ): number {
    const [value, byteOffset] = args;
    const start = typeof byteOffset === 'number' ? byteOffset : 0;
    const from = start < 0 ? Math.max(0, this.length + start) : Math.min(start, this.length);
    const at = original.apply(this, args);
    const needle = typeof value === 'number' ? 1 : Buffer.byteLength(value as string | Uint8Array);
    searched += at < 0 ? this.length - from : at + needle - from;
    return at;
  });
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return searched;
}

describe('delimited(): newline by default', () => {
  test('cuts at each newline and drops it', () => {
    const framing = delimited();
    expect(framing.delimiter).toEqual(latin1('\n'));
    expect(framing.trailer).toBe(1);
    expect(framing.maxMessageSize).toBeUndefined();
    const { assembler, messages, errors } = record({ framing });
    assembler.push(latin1('one\ntwo\n\nthree\npartial'));
    expect(texts(messages)).toEqual(['one', 'two', '', 'three']);
    expect(assembler.bufferedBytes).toBe('partial'.length);
    assembler.push(latin1(' line\n'));
    expect(texts(messages)).toEqual(['one', 'two', '', 'three', 'partial line']);
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('a carriage return is an ordinary byte of the message', () => {
    const { assembler, messages } = record({ framing: delimited() });
    assembler.push(latin1('dos\r\n\runix\n'));
    expect(texts(messages)).toEqual(['dos\r', '\runix']);
  });

  test('encode appends the delimiter and passes the payload through uncopied', () => {
    const framing = delimited();
    const payload = latin1('hello');
    const encoded: readonly Buffer[] = framing.encode(payload) as readonly Buffer[];
    expect(encoded).toHaveLength(2);
    expect(encoded[0]).toBe(payload);
    expect(Buffer.concat(encoded).toString('latin1')).toBe('hello\n');
  });

  test('messages inside one chunk are views of it; one spanning chunks is a copy', () => {
    const a = unpooled('first\nspan');
    const b = unpooled('ning\nlast\n');
    const { assembler, messages } = record({ framing: delimited() });
    assembler.push(a);
    assembler.push(b);
    expect(texts(messages)).toEqual(['first', 'spanning', 'last']);
    const [first, spanning, last] = messages as [Buffer, Buffer, Buffer];
    expect(isViewOf(first, a)).toBe(true);
    expect(isViewOf(last, b)).toBe(true);
    expect(spanning.buffer).not.toBe(a.buffer);
    expect(spanning.buffer).not.toBe(b.buffer);
    a.fill(0);
    b.fill(0);
    expect(spanning.toString()).toBe('spanning');
  });

  test('a message whose payload arrived whole but whose delimiter straddles is copied once', () => {
    const framing = delimited({ delimiter: '\r\n' });
    const a = unpooled('abc\r');
    const b = unpooled('\nxyz\r\n');
    const { assembler, messages } = record({ framing });
    assembler.push(a);
    expect(messages).toEqual([]);
    assembler.push(b);
    expect(texts(messages)).toEqual(['abc', 'xyz']);
    expect(messages[0]?.buffer).not.toBe(a.buffer);
    expect(isViewOf(messages[1] as Buffer, b)).toBe(true);
  });
});

describe('delimited(): multi-byte delimiters', () => {
  test.each<[string, string | Uint8Array, number[]]>([
    ['CRLF', '\r\n', [0x0d, 0x0a]],
    ['a UTF-8 string', '¶→', [0xc2, 0xb6, 0xe2, 0x86, 0x92]],
    ['binary bytes', new Uint8Array([0x00, 0xff, 0x00]), [0x00, 0xff, 0x00]],
    ['a Buffer', Buffer.from('<END>'), [...Buffer.from('<END>')]],
  ])('%s', (_label, delimiter, bytes) => {
    const framing = delimited({ delimiter });
    expect([...framing.delimiter]).toEqual(bytes);
    expect(framing.trailer).toBe(bytes.length);
    const payloads = [latin1('alpha'), Buffer.alloc(0), latin1('b'), Buffer.from([0xff, 0x00, 0xc2])];
    const stream = encodeAll(framing, payloads);
    expect(stream.length).toBe(payloads.reduce((n, p) => n + p.length + bytes.length, 0));
    const { assembler, messages, errors } = record({ framing });
    assembler.push(stream);
    expect(messages.map((m) => m.toString('hex'))).toEqual(payloads.map((p) => p.toString('hex')));
    expect(errors).toEqual([]);
  });

  test('the delimiter is copied: changing the caller’s array afterwards changes nothing', () => {
    const bytes = new Uint8Array([0x7c, 0x7c]);
    const framing = delimited({ delimiter: bytes });
    bytes[0] = 0x21;
    expect(framing.delimiter.toString('latin1')).toBe('||');
    const { assembler, messages } = record({ framing });
    assembler.push(latin1('a||b!|c||'));
    expect(texts(messages)).toEqual(['a', 'b!|c']);
  });

  test('a partial delimiter inside a message is payload', () => {
    const { assembler, messages } = record({ framing: delimited({ delimiter: '<END>' }) });
    assembler.push(latin1('a<EN b<E<END><<END>'));
    expect(texts(messages)).toEqual(['a<EN b<E', '<']);
  });
});

describe('delimited(): delimiters straddling chunk boundaries', () => {
  const DELIMITERS: Array<string | Uint8Array> = [
    '\n',
    '\r\n',
    '\r\n\r\n',
    'abab',
    'aab',
    '<END>',
    new Uint8Array([0x00, 0xff, 0x00]),
  ];

  /**
   * Payloads full of partial delimiters: every proper prefix and suffix of it, alone and next to
   * other bytes, kept when encode accepts them.
   */
  function trickyPayloads(framing: ReturnType<typeof delimited>): Buffer[] {
    const d = framing.delimiter;
    const candidates: Buffer[] = [Buffer.alloc(0), latin1('hello')];
    for (let i = 1; i < d.length; i++) {
      const prefix = d.subarray(0, i);
      const suffix = d.subarray(i);
      candidates.push(
        prefix,
        suffix,
        Buffer.concat([latin1('x'), prefix]),
        Buffer.concat([prefix, latin1('y')]),
        Buffer.concat([suffix, latin1('z'), prefix, latin1('w')]),
      );
    }
    return candidates.filter((payload) => accepts(framing, payload));
  }

  describe.each(DELIMITERS)('delimiter %j', (delimiter) => {
    const framing = delimited({ delimiter });
    const payloads = trickyPayloads(framing);
    const stream = encodeAll(framing, payloads);
    const expected = texts(payloads);

    test('the payload set is not trivial', () => {
      expect(payloads.length).toBeGreaterThanOrEqual(Math.min(2 + 3 * (framing.delimiter.length - 1), 7));
    });

    test('split at every offset', () => {
      for (let cut = 0; cut <= stream.length; cut++) {
        const { assembler, messages, errors } = record({ framing: delimited({ delimiter }) });
        pushCut(assembler, stream, [cut]);
        expect(texts(messages)).toEqual(expected);
        expect(errors).toEqual([]);
        expect(assembler.bufferedBytes).toBe(0);
      }
    });

    test('split at every pair of offsets', () => {
      const wrong: string[] = [];
      for (let a = 0; a <= stream.length; a++) {
        for (let b = a; b <= stream.length; b++) {
          const { assembler, messages } = record({ framing: delimited({ delimiter }) });
          pushCut(assembler, stream, [a, b]);
          if (texts(messages).join('\u0000') !== expected.join('\u0000')) wrong.push(`${a},${b}`);
        }
      }
      expect(wrong).toEqual([]);
    });

    test('byte by byte, each message delivered on the last byte of its delimiter', () => {
      const ends: number[] = [];
      let end = 0;
      for (const payload of payloads) {
        end += payload.length + framing.delimiter.length;
        ends.push(end);
      }
      const { assembler, messages } = record({ framing: delimited({ delimiter }) });
      for (let i = 0; i < stream.length; i++) {
        assembler.push(stream.subarray(i, i + 1));
        expect(messages).toHaveLength(ends.filter((e) => e <= i + 1).length);
      }
      expect(texts(messages)).toEqual(expected);
    });
  });

  test.each(['aa', 'aab', 'aba', 'abab', 'abaab', 'bab'])(
    'every stream over {a, b} up to 8 bytes, split anywhere, reads as a plain search reads it: %j',
    (text) => {
      const delimiter = latin1(text);
      const wrong: unknown[] = [];
      for (const s of allStrings('ab', 8)) {
        const stream = latin1(s);
        const want = reference(stream, delimiter);
        const splits: number[][] = [[]];
        for (let cut = 1; cut < stream.length; cut++) splits.push([cut]);
        splits.push(Array.from({ length: Math.max(0, stream.length - 1) }, (_, i) => i + 1));
        for (const cuts of splits) {
          const { assembler, messages } = record({ framing: delimited({ delimiter }) });
          pushCut(assembler, stream, cuts);
          const got = { messages: texts(messages), rest: assembler.bufferedBytes };
          if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push({ stream: s, cuts, got, want });
        }
      }
      expect(wrong).toEqual([]);
    },
  );
});

describe('delimited(): scanning is linear', () => {
  test.each(['\n', '\r\n', 'aaaab'])(
    'the scanner consumes each byte once, however the stream is split: %j',
    (text) => {
      const delimiter = latin1(text);
      // Long messages full of the delimiter's first byte, so partial matches are everywhere.
      const payloads = [Buffer.alloc(50_000, delimiter[0]), latin1('short'), Buffer.alloc(0)].map((p) =>
        accepts(delimited({ delimiter }), p) ? p : Buffer.alloc(p.length, 0x78),
      );
      const stream = encodeAll(delimited({ delimiter }), payloads);
      for (const chunk of [1, 3, 1460, stream.length]) {
        const { framing, consumed, calls } = counted(delimited({ delimiter }));
        const { assembler, messages, errors } = record({ framing });
        pushInChunks(assembler, stream, chunk);
        expect(errors).toEqual([]);
        expect(messages.map((m) => m.length)).toEqual(payloads.map((p) => p.length));
        // A backlog rescanned on each chunk would be consumed again and again.
        expect(consumed()).toBe(stream.length);
        expect(calls()).toBeLessThanOrEqual(Math.ceil(stream.length / chunk) + payloads.length);
      }
    },
  );

  test.each(['\n', '\r\n', '\r\n\r\n'])(
    'a 64 KiB message pushed byte by byte is searched at most once per byte: %j',
    (text) => {
      const framing = delimited({ delimiter: text });
      const payload = pseudoRandomBytes(64 * 1024, 7);
      // Carriage returns stay, so partial matches of the longer delimiters are common.
      for (let i = 0; i < payload.length; i++) if (payload[i] === 0x0a) payload[i] = 0x0d;
      const stream = encodeAll(framing, [payload, latin1('next')]);
      for (const chunk of [1, 2, 1000, 16_384]) {
        const { assembler, messages, errors } = record({ framing: delimited({ delimiter: text }) });
        const searched = searchedBytes(() => pushInChunks(assembler, stream, chunk));
        expect(errors).toEqual([]);
        expect(messages.map((m) => m.length)).toEqual([payload.length, 4]);
        expect(messages[0]?.equals(payload)).toBe(true);
        expect(searched).toBeLessThanOrEqual(stream.length);
        // Most bytes go through the native search; the rest only through the partial-match steps.
        expect(searched).toBeGreaterThan(stream.length / 2);
      }
    },
  );

  test('the built-in scanner resumes a partial match across calls without looking back', () => {
    const scanner = delimited({ delimiter: 'aab' }).createScanner();
    // "a" + "a" + "ab": the stream so far is "aaab"; the message ends after the last byte.
    expect(scanner.scan(latin1('a'))).toBe(-1);
    expect(scanner.scan(latin1('a'))).toBe(-1);
    expect(scanner.scan(latin1('ab'))).toBe(2);
    // After a match the next bytes start afresh.
    expect(scanner.scan(latin1('b'))).toBe(-1);
    expect(scanner.scan(latin1('aa'))).toBe(-1);
    scanner.reset();
    expect(scanner.scan(latin1('b'))).toBe(-1);
    expect(scanner.scan(latin1('xaabaab'))).toBe(4);
  });
});

describe('delimited(): maxMessageSize', () => {
  test('a message with no delimiter yet fails as soon as it passes the limit', () => {
    const framing = delimited({ maxMessageSize: 16 });
    expect(framing.maxMessageSize).toBe(16);
    const { assembler, messages, errors } = record({ framing });
    assembler.push(Buffer.alloc(10, 0x61));
    assembler.push(Buffer.alloc(6, 0x61));
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(16);
    assembler.push(Buffer.alloc(1, 0x61));
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBe(17);
    expect(err.limit).toBe(16);
    expect(assembler.bufferedBytes).toBe(0);
    // Nothing more is delivered, even a well-formed message.
    assembler.push(latin1('\nok\n'));
    expect(messages).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  test('one large chunk with no delimiter is refused without being kept', () => {
    const { assembler, errors } = record({ framing: delimited({ maxMessageSize: 1024 }) });
    assembler.push(Buffer.alloc(1024 * 1024, 0x61));
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('byte by byte, the error comes with the first byte over the limit', () => {
    const { assembler, errors } = record({ framing: delimited({ delimiter: '\r\n', maxMessageSize: 8 }) });
    for (let i = 1; i <= 8; i++) {
      assembler.push(latin1('z'));
      expect(errors).toEqual([]);
      expect(assembler.bufferedBytes).toBe(i);
    }
    assembler.push(latin1('z'));
    expect(errors).toHaveLength(1);
    expect((errors[0] as FrameTooLargeError).length).toBe(9);
  });

  test('the limit counts the delimiter: a frame of exactly the limit passes, one more byte fails', () => {
    const ok = record({ framing: delimited({ delimiter: '\r\n', maxMessageSize: 8 }) });
    pushInChunks(ok.assembler, latin1('123456\r\n123456\r\n'), 1);
    expect(texts(ok.messages)).toEqual(['123456', '123456']);
    expect(ok.errors).toEqual([]);

    for (const chunk of [1, 3, 100]) {
      const over = record({ framing: delimited({ delimiter: '\r\n', maxMessageSize: 8 }) });
      pushInChunks(over.assembler, latin1('123456\r\n1234567\r\n'), chunk);
      expect(texts(over.messages)).toEqual(['123456']);
      expect(over.errors).toHaveLength(1);
      expect(over.errors[0]).toBeInstanceOf(FrameTooLargeError);
      // Never more than the limit is held.
      expect(over.assembler.bufferedBytes).toBe(0);
    }
  });

  test("the assembler's own maxMessageSize applies to delimited messages, and the smaller wins", () => {
    const own = record({ framing: delimited(), maxMessageSize: 4 });
    own.assembler.push(latin1('abc\nabcd'));
    expect(texts(own.messages)).toEqual(['abc']);
    expect(own.errors).toHaveLength(0);
    own.assembler.push(latin1('e'));
    expect((own.errors[0] as FrameTooLargeError).limit).toBe(4);

    const smaller = record({ framing: delimited({ maxMessageSize: 4 }), maxMessageSize: 100 });
    expect(smaller.assembler.maxMessageSize).toBe(4);
  });

  test('the default limit of 16 MiB applies to a delimiter that never comes', () => {
    const { assembler, errors } = record({ framing: delimited() });
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 16; i++) assembler.push(chunk);
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(16 * 1024 * 1024);
    assembler.push(latin1('a'));
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('reset() after the error forgets a partial delimiter too', () => {
    const { assembler, messages, errors } = record({ framing: delimited({ delimiter: '\r\n' }) });
    assembler.push(latin1('x\r'));
    assembler.reset();
    assembler.push(latin1('\nabc\r\n'));
    expect(texts(messages)).toEqual(['\nabc']);
    expect(errors).toEqual([]);
  });
});

describe('delimited(): empty messages', () => {
  test.each(['\n', '\r\n', 'abab'])('consecutive delimiters are empty Buffers: %j', (text) => {
    const framing = delimited({ delimiter: text });
    const stream = encodeAll(framing, [Buffer.alloc(0), Buffer.alloc(0), latin1('x'), Buffer.alloc(0)]);
    for (const chunk of [1, 2, stream.length]) {
      const { assembler, messages, errors } = record({ framing: delimited({ delimiter: text }) });
      pushInChunks(assembler, stream, chunk);
      expect(errors).toEqual([]);
      expect(texts(messages)).toEqual(['', '', 'x', '']);
      for (const message of messages) expect(Buffer.isBuffer(message)).toBe(true);
    }
  });

  test('encode of an empty payload is the delimiter alone', () => {
    const framing = delimited({ delimiter: '\r\n' });
    expect(encodeAll(framing, [Buffer.alloc(0)]).toString('latin1')).toBe('\r\n');
  });
});

describe('delimited(): encode refuses payloads the peer would read differently', () => {
  test.each<[string, string]>([
    ['\n', 'a\nb'],
    ['\n', '\n'],
    ['\n', 'trailing\n'],
    ['\r\n', 'a\r\nb'],
    ['\r\n', '\r\n'],
    ['<END>', 'x<END>'],
  ])('delimiter %j, payload %j contains it', (delimiter, payload) => {
    const framing = delimited({ delimiter });
    expect(() => framing.encode(latin1(payload))).toThrow(RangeError);
    expect(() => framing.encode(latin1(payload))).toThrow('The payload contains the delimiter');
  });

  test('bytes of a delimiter that does not overlap itself are allowed anywhere', () => {
    const framing = delimited({ delimiter: '\r\n' });
    const payloads = ['a\r', '\nb', '\n\r', '\r', '\r\r', '\n'].map(latin1);
    const { assembler, messages } = record({ framing });
    assembler.push(encodeAll(framing, payloads));
    expect(texts(messages)).toEqual(texts(payloads));
  });

  test.each<[string, string]>([
    ['\r\n\r\n', 'x\r\n'],
    ['\r\n\r\n', '\r\n'],
    ['\r\n\r\n', '\n\r\n'],
    ['abab', 'ab'],
    ['abab', 'xab'],
    ['aa', 'a'],
    ['aba', 'xab'],
  ])('delimiter %j: payload %j would end early against the delimiter sent after it', (delimiter, payload) => {
    const framing = delimited({ delimiter });
    const bytes = latin1(payload);
    expect(bytes.indexOf(framing.delimiter)).toBe(-1);
    expect(() => framing.encode(bytes)).toThrow(RangeError);
    expect(() => framing.encode(bytes)).toThrow('form the delimiter with the one sent after it');
    // What the peer would read if the payload were sent anyway.
    const { assembler, messages } = record({ framing });
    assembler.push(Buffer.concat([bytes, framing.delimiter]));
    expect(texts(messages)).not.toEqual([payload]);
  });

  test.each<[string, string]>([
    ['\r\n\r\n', 'x\r\n\r'],
    ['\r\n\r\n', 'x\r'],
    ['abab', 'aba'],
    ['\r\n\r\n', '\r\n\r'],
    ['aa', 'b'],
    ['aa', 'ab'],
  ])('delimiter %j: payload %j is safe and round-trips', (delimiter, payload) => {
    const framing = delimited({ delimiter });
    const { assembler, messages } = record({ framing });
    assembler.push(encodeAll(framing, [latin1(payload), latin1(payload)]));
    expect(texts(messages)).toEqual([payload, payload]);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test.each(['aa', 'aba', 'abab', 'aab', 'abaab', '\r\n\r\n', '\n', '\r\n'])(
    'delimiter %j: encode accepts exactly the payloads that read back as themselves',
    (text) => {
      const framing = delimited({ delimiter: text });
      const alphabet = [...new Set(text + 'x')].join('');
      let refused = 0;
      const wrong: string[] = [];
      for (const s of allStrings(alphabet, 7)) {
        const payload = latin1(s);
        const { assembler, messages } = record({ framing: delimited({ delimiter: text }) });
        assembler.push(Buffer.concat([payload, framing.delimiter]));
        const readsBack = messages.length === 1 && messages[0]?.equals(payload) === true;
        const accepted = accepts(framing, payload);
        if (!accepted) refused++;
        if (accepted !== readsBack) wrong.push(`${JSON.stringify(s)} accepted: ${accepted}`);
      }
      expect(wrong).toEqual([]);
      expect(refused).toBeGreaterThan(0);
    },
  );
});

describe('delimited(): options', () => {
  test.each<[string, unknown]>([
    ['a number', 42],
    ['an array', [10]],
    ['an object', { length: 1 }],
  ])('a delimiter that is %s is a TypeError', (_label, delimiter) => {
    expect(() => delimited({ delimiter: delimiter as string })).toThrow(TypeError);
    expect(() => delimited({ delimiter: delimiter as string })).toThrow(
      'The "delimiter" option must be a string or a Uint8Array.',
    );
  });

  test.each<[string, string | Uint8Array]>([
    ['an empty string', ''],
    ['an empty Uint8Array', new Uint8Array(0)],
  ])('%s as delimiter is a TypeError', (_label, delimiter) => {
    expect(() => delimited({ delimiter })).toThrow(
      new TypeError('The "delimiter" option must not be empty.'),
    );
  });

  test.each<[unknown, string]>([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    ['10', '"10"'],
  ])('maxMessageSize %j is a TypeError', (maxMessageSize, shown) => {
    expect(() => delimited({ maxMessageSize: maxMessageSize as number })).toThrow(
      new TypeError(`The "maxMessageSize" option must be a positive integer; got ${shown}.`),
    );
  });

  test('options that are not an object are a TypeError', () => {
    expect(() => delimited(null as unknown as object)).toThrow(
      new TypeError('delimited() takes an options object.'),
    );
    expect(() => delimited('\n' as unknown as object)).toThrow(TypeError);
  });

  test('each assembler gets its own scanner, so partial matches never leak between streams', () => {
    const framing = delimited({ delimiter: '\r\n' });
    const one = record({ framing });
    const two = record({ framing });
    one.assembler.push(latin1('a\r'));
    two.assembler.push(latin1('\nb\r\n'));
    expect(texts(two.messages)).toEqual(['\nb']);
    one.assembler.push(latin1('\n'));
    expect(texts(one.messages)).toEqual(['a']);
  });
});
