import { lengthField, type LengthFieldOptions, type LengthSize } from '../../src/framing/length-field';
import { FrameTooLargeError, InvalidFrameLengthError } from '../../src/errors';
import { encodeAll, fingerprints, pushCut, pushInChunks, record, texts } from './helpers';

const HELLO = Buffer.from('HELLO, WORLD', 'latin1'); // 12 bytes
const bytes = (...parts: Array<number[] | Buffer>): Buffer =>
  Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));

/**
 * The seven worked examples of Netty's LengthFieldBasedFrameDecoder Javadoc. Netty's
 * initialBytesToStrip defaults to 0 while our strip defaults to the header, so strip is always given.
 */
const NETTY_EXAMPLES: Array<{
  name: string;
  options: LengthFieldOptions;
  before: Buffer;
  after: Buffer;
  /** The `header` option that gives back the stripped bytes of `before` (none when strip is 0). */
  header?: Buffer;
}> = [
  {
    name: '1: 2-byte length at offset 0, header not stripped',
    options: { lengthOffset: 0, lengthSize: 2, lengthAdjustment: 0, strip: 0 },
    before: bytes([0x00, 0x0c], HELLO),
    after: bytes([0x00, 0x0c], HELLO),
  },
  {
    name: '2: 2-byte length at offset 0, header stripped',
    options: { lengthOffset: 0, lengthSize: 2, lengthAdjustment: 0, strip: 2 },
    before: bytes([0x00, 0x0c], HELLO),
    after: HELLO,
  },
  {
    name: '3: 2-byte length that counts the whole frame (adjustment -2), header not stripped',
    options: { lengthOffset: 0, lengthSize: 2, lengthAdjustment: -2, strip: 0 },
    before: bytes([0x00, 0x0e], HELLO),
    after: bytes([0x00, 0x0e], HELLO),
  },
  {
    name: '4: 3-byte length at offset 2 after a 0xCAFE header',
    options: { lengthOffset: 2, lengthSize: 3, lengthAdjustment: 0, strip: 0 },
    before: bytes([0xca, 0xfe, 0x00, 0x00, 0x0c], HELLO),
    after: bytes([0xca, 0xfe, 0x00, 0x00, 0x0c], HELLO),
  },
  {
    name: '5: 3-byte length followed by a 0xCAFE header (adjustment 2)',
    options: { lengthOffset: 0, lengthSize: 3, lengthAdjustment: 2, strip: 0 },
    before: bytes([0x00, 0x00, 0x0c, 0xca, 0xfe], HELLO),
    after: bytes([0x00, 0x00, 0x0c, 0xca, 0xfe], HELLO),
  },
  {
    name: '6: HDR1, 2-byte length at offset 1, HDR2; first 3 bytes stripped (adjustment 1)',
    options: { lengthOffset: 1, lengthSize: 2, lengthAdjustment: 1, strip: 3 },
    header: Buffer.from([0xca, 0, 0]),
    before: bytes([0xca, 0x00, 0x0c, 0xfe], HELLO),
    after: bytes([0xfe], HELLO),
  },
  {
    name: '7: as 6 but the length counts the whole frame (adjustment -3)',
    options: { lengthOffset: 1, lengthSize: 2, lengthAdjustment: -3, strip: 3 },
    header: Buffer.from([0xca, 0, 0]),
    before: bytes([0xca, 0x00, 0x10, 0xfe], HELLO),
    after: bytes([0xfe], HELLO),
  },
];

describe("lengthField: Netty's seven worked examples", () => {
  describe.each(NETTY_EXAMPLES)('example $name', ({ options, before, after, header }) => {
    test('pushed whole', () => {
      const { assembler, messages, errors } = record({ framing: lengthField(options) });
      assembler.push(before);
      expect(errors).toEqual([]);
      expect(messages).toEqual([after]);
    });

    test('three frames split at every offset, and byte by byte', () => {
      const stream = Buffer.concat([before, before, before]);
      for (let cut = 0; cut <= stream.length; cut++) {
        const { assembler, messages, errors } = record({ framing: lengthField(options) });
        pushCut(assembler, stream, [cut]);
        expect(errors).toEqual([]);
        expect(messages).toEqual([after, after, after]);
      }
      const { assembler, messages } = record({ framing: lengthField(options) });
      pushInChunks(assembler, stream, 1);
      expect(messages).toEqual([after, after, after]);
    });

    test('send(received) writes the frame that was received (an echo is byte for byte)', () => {
      const framing = lengthField({ ...options, ...(header ? { header } : {}) });
      expect(encodeAll(framing, [after])).toEqual(before);
      const { assembler, messages } = record({ framing });
      assembler.push(encodeAll(framing, [after, after]));
      expect(messages).toEqual([after, after]);
    });

    test('without a header option, the stripped bytes are zeroes', () => {
      const expected = Buffer.from(before);
      expected.fill(0, 0, Math.min(options.lengthOffset ?? 0, options.strip ?? 0));
      expect(encodeAll(lengthField(options), [after])).toEqual(expected);
    });
  });
});

describe('lengthField(): the default framing', () => {
  const framing = lengthField();

  test('is a 4-byte big-endian payload length, header stripped', () => {
    expect(framing).toMatchObject({
      headerSize: 4,
      lengthOffset: 0,
      lengthSize: 4,
      lengthAdjustment: 0,
      strip: 4,
      endian: 'big',
    });
    expect(framing.maxMessageSize).toBeUndefined();
    expect(encodeAll(framing, [Buffer.from('abc')])).toEqual(Buffer.from([0, 0, 0, 3, 0x61, 0x62, 0x63]));
    const { assembler, messages } = record({ framing });
    assembler.push(Buffer.from([0, 0, 1, 2, ...Buffer.alloc(258, 7)]));
    expect(messages).toEqual([Buffer.alloc(258, 7)]);
  });

  test('encodeHeader writes exactly the header encode() puts before the payload', () => {
    const target = Buffer.alloc(12, 0xee);
    expect(framing.maxHeaderSize).toBe(4);
    expect(framing.encodeHeader?.(0x01020304, target, 3)).toBe(4);
    expect([...target]).toEqual([0xee, 0xee, 0xee, 1, 2, 3, 4, 0xee, 0xee, 0xee, 0xee, 0xee]);
  });
});

describe('lengthField: every length size and byte order', () => {
  const SIZES: LengthSize[] = [1, 2, 3, 4, 8];
  const cases = SIZES.flatMap((lengthSize) =>
    (['big', 'little'] as const).map((endian) => ({ lengthSize, endian })),
  );

  test.each(cases)(
    'lengthSize $lengthSize, $endian endian: header bytes and round trip',
    ({ lengthSize, endian }) => {
      const framing = lengthField({ lengthSize, endian });
      expect(framing.headerSize).toBe(lengthSize);
      expect(framing.strip).toBe(lengthSize);

      // A length whose bytes are all different shows the byte order: 0x010203… truncated to the field.
      const length = lengthSize === 1 ? 0xfe : lengthSize === 2 ? 0x0102 : 0x010203;
      const payload = Buffer.alloc(length, 0x5a);
      const [header] = framing.encode(payload);
      const field = Buffer.alloc(lengthSize);
      if (lengthSize === 8) {
        if (endian === 'big') field.writeBigUInt64BE(BigInt(length));
        else field.writeBigUInt64LE(BigInt(length));
      } else if (endian === 'big') {
        field.writeUIntBE(length, 0, lengthSize);
      } else {
        field.writeUIntLE(length, 0, lengthSize);
      }
      expect(header).toEqual(field);

      const payloads = [Buffer.alloc(0), Buffer.from('x'), payload, Buffer.from('tail')];
      const stream = encodeAll(framing, payloads);
      for (const size of [stream.length, 1, 7, 100]) {
        const { assembler, messages, errors } = record({ framing: lengthField({ lengthSize, endian }) });
        pushInChunks(assembler, stream, size);
        expect(errors).toEqual([]);
        expect(fingerprints(messages)).toEqual(fingerprints(payloads));
      }
    },
  );

  test.each(cases)(
    'lengthSize $lengthSize, $endian: the largest length the field holds',
    ({ lengthSize, endian }) => {
      const framing = lengthField({ lengthSize, endian });
      if (lengthSize <= 2) {
        // Small enough to send for real.
        const max = 2 ** (8 * lengthSize) - 1;
        const { assembler, messages } = record({ framing });
        assembler.push(encodeAll(framing, [Buffer.alloc(max, 1)]));
        expect(messages[0]?.length).toBe(max);
      }
      const fieldMax = lengthSize === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * lengthSize) - 1;
      const target = Buffer.alloc(lengthSize);
      expect(framing.encodeHeader?.(fieldMax, target, 0)).toBe(lengthSize);
      // Past 2^53 a sum is inexact: an 8-byte field's frame length is Infinity there.
      expect(framing.messageLength(target)).toBe(lengthSize === 8 ? Infinity : fieldMax + lengthSize);
      expect(() => framing.encodeHeader?.(fieldMax + 1, target, 0)).toThrow(RangeError);
    },
  );

  test('encodeHeader and encode agree for offsets, adjustments and both byte orders', () => {
    for (const options of [
      { lengthOffset: 3, lengthSize: 2 as const, lengthAdjustment: -5 },
      { lengthOffset: 1, lengthSize: 8 as const, endian: 'little' as const, lengthAdjustment: 7 },
      { lengthOffset: 0, lengthSize: 3 as const, endian: 'little' as const },
    ]) {
      const framing = lengthField(options);
      const payload = Buffer.alloc(300, 9);
      const [header] = framing.encode(payload);
      const target = Buffer.alloc(framing.headerSize + 2, 0xee);
      expect(framing.encodeHeader?.(payload.length, target, 1)).toBe(framing.headerSize);
      expect(target.subarray(1, 1 + framing.headerSize)).toEqual(header);
      expect(target[0]).toBe(0xee);
      expect(target[target.length - 1]).toBe(0xee);
    }
  });
});

describe('lengthField: hostile lengths', () => {
  test('a 4 GiB length (0xFFFFFFFF) is refused with ERR_FRAME_TOO_LARGE on its header alone', () => {
    const { assembler, errors } = record();
    assembler.push(Buffer.from([0xff, 0xff, 0xff]));
    expect(errors).toEqual([]);
    assembler.push(Buffer.from([0xff]));
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBe(0xffffffff + 4);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test.each([
    ['2^53', 2n ** 53n],
    ['2^64 - 1', 2n ** 64n - 1n],
  ])('an 8-byte length of %s is refused with ERR_FRAME_TOO_LARGE before the body', (_label, value) => {
    for (const endian of ['big', 'little'] as const) {
      const header = Buffer.alloc(8);
      if (endian === 'big') header.writeBigUInt64BE(value);
      else header.writeBigUInt64LE(value);
      const { assembler, errors } = record({ framing: lengthField({ lengthSize: 8, endian }) });
      assembler.push(Buffer.concat([header, Buffer.from('a little body')]));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
      expect((errors[0] as FrameTooLargeError).length).toBeGreaterThanOrEqual(2 ** 53);
    }
  });

  test('the limit is checked before the body even when the assembler limit is raised', () => {
    const { assembler, errors } = record({ maxMessageSize: 2 ** 40 });
    assembler.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(4);
    const eight = record({ framing: lengthField({ lengthSize: 8 }), maxMessageSize: 2 ** 40 });
    eight.assembler.push(Buffer.from([0, 0, 1, 0, 0, 0, 0, 0])); // 2^40 + 8 bytes
    expect(eight.errors[0]).toBeInstanceOf(FrameTooLargeError);
  });

  test('an adjusted length shorter than the header is ERR_INVALID_FRAME_LENGTH', () => {
    // The field claims to count the whole 4-byte frame, but says 2.
    const counting = record({ framing: lengthField({ lengthAdjustment: -4, strip: 0 }) });
    counting.assembler.push(Buffer.from([0, 0, 0, 2, 9, 9]));
    expect(counting.errors[0]).toBeInstanceOf(InvalidFrameLengthError);
    expect(counting.errors[0]?.code).toBe('ERR_INVALID_FRAME_LENGTH');
    // An adjustment that makes the length negative.
    const negative = record({ framing: lengthField({ lengthSize: 1, lengthAdjustment: -10 }) });
    negative.assembler.push(Buffer.from([3, 1, 2, 3]));
    expect(negative.errors[0]).toBeInstanceOf(InvalidFrameLengthError);
    expect(negative.messages).toEqual([]);
  });

  test("the framing's own maxMessageSize applies when it is smaller", () => {
    const framing = lengthField({ lengthSize: 2, maxMessageSize: 10 });
    expect(framing.maxMessageSize).toBe(10);
    const { assembler, errors, messages } = record({ framing });
    assembler.push(Buffer.from([0, 8, ...Buffer.alloc(8)]));
    assembler.push(Buffer.from([0, 9]));
    expect(messages).toHaveLength(1);
    expect((errors[0] as FrameTooLargeError).limit).toBe(10);
  });
});

describe('lengthField: encode refuses payloads the field cannot describe', () => {
  test.each<[string, LengthFieldOptions, number, number]>([
    ['256 bytes in a 1-byte field', { lengthSize: 1 }, 256, 255],
    ['65536 bytes in a 2-byte field', { lengthSize: 2 }, 65536, 65535],
    ['2^24 bytes in a 3-byte field', { lengthSize: 3 }, 2 ** 24, 2 ** 24 - 1],
    [
      '255 bytes in a 1-byte field counting a 1-byte header',
      { lengthSize: 1, lengthAdjustment: -1 },
      255,
      254,
    ],
    ['fewer bytes than a positive adjustment', { lengthSize: 2, lengthAdjustment: 5 }, 4, 5],
  ])('%s throws a RangeError', (_label, options, refused, accepted) => {
    const framing = lengthField(options);
    expect(() => framing.encode(Buffer.alloc(refused))).toThrow(RangeError);
    expect(() => framing.encode(Buffer.alloc(accepted))).not.toThrow();
  });

  test('encodeHeader refuses 4 GiB in a 4-byte field and 2^53 in an 8-byte field', () => {
    const target = Buffer.alloc(8);
    expect(() => lengthField().encodeHeader?.(2 ** 32, target, 0)).toThrow(RangeError);
    expect(() => lengthField().encodeHeader?.(2 ** 32 - 1, target, 0)).not.toThrow();
    expect(() => lengthField({ lengthSize: 8 }).encodeHeader?.(2 ** 53, target, 0)).toThrow(RangeError);
  });

  test('payload lengths that fit, with adjustments, round-trip', () => {
    const framing = lengthField({ lengthSize: 1, lengthAdjustment: -1, strip: 1 });
    const payloads = [Buffer.alloc(0), Buffer.alloc(254, 3)];
    const { assembler, messages } = record({ framing });
    assembler.push(encodeAll(framing, payloads));
    expect(messages).toEqual(payloads);
  });
});

describe('lengthField: options', () => {
  test('strip defaults to lengthOffset + lengthSize and may be set to anything from 0', () => {
    expect(lengthField({ lengthOffset: 3, lengthSize: 2 }).strip).toBe(5);
    expect(lengthField({ lengthOffset: 3, lengthSize: 2, strip: 0 }).strip).toBe(0);
    const framing = lengthField({ lengthOffset: 1, lengthSize: 1, strip: 1 });
    const { assembler, messages } = record({ framing });
    assembler.push(Buffer.from([7, 2, 0x61, 0x62]));
    expect(messages).toEqual([Buffer.from([2, 0x61, 0x62])]);
  });

  test('a strip beyond the whole frame is refused per frame', () => {
    const { assembler, errors, messages } = record({ framing: lengthField({ lengthSize: 1, strip: 5 }) });
    assembler.push(Buffer.from([4, 1, 2, 3, 4, 2, 1, 2]));
    expect(messages).toEqual([Buffer.alloc(0)]);
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });

  test.each<[string, unknown, RegExp]>([
    ['a non-object', 4, /options object/],
    ['null', null, /options object/],
    [
      'a negative lengthOffset',
      { lengthOffset: -1 },
      /"lengthOffset" option must be a non-negative integer; got -1\./,
    ],
    ['a fractional lengthOffset', { lengthOffset: 0.5 }, /"lengthOffset"/],
    ['lengthSize 5', { lengthSize: 5 }, /"lengthSize" option must be 1, 2, 3, 4 or 8; got 5\./],
    ['lengthSize 0', { lengthSize: 0 }, /"lengthSize"/],
    ['lengthSize "4"', { lengthSize: '4' }, /"lengthSize" option must be 1, 2, 3, 4 or 8; got "4"\./],
    [
      'a fractional lengthAdjustment',
      { lengthAdjustment: 1.5 },
      /"lengthAdjustment" option must be an integer/,
    ],
    ['a NaN lengthAdjustment', { lengthAdjustment: NaN }, /"lengthAdjustment"/],
    ['a negative strip', { strip: -1 }, /"strip" option must be a non-negative integer; got -1\./],
    ['a fractional strip', { strip: 1.5 }, /"strip"/],
    ['endian "middle"', { endian: 'middle' }, /"endian" option must be 'big' or 'little'; got "middle"\./],
    ['maxMessageSize 0', { maxMessageSize: 0 }, /"maxMessageSize"/],
    ['maxMessageSize 2.5', { maxMessageSize: 2.5 }, /"maxMessageSize"/],
  ])('%s throws a TypeError', (_label, options, message) => {
    expect(() => lengthField(options as LengthFieldOptions)).toThrow(TypeError);
    expect(() => lengthField(options as LengthFieldOptions)).toThrow(message);
  });

  test('strip 0 delivers the header, and send() takes a message that starts with it', () => {
    const framing = lengthField({ lengthOffset: 1, lengthSize: 1, strip: 0 });
    const { assembler, messages } = record({ framing });
    assembler.push(encodeAll(framing, [Buffer.from('\u0007\u0000ok')]));
    expect(texts(messages)).toEqual(['\u0007\u0002ok']);
  });
});

describe('lengthField: the header option (bytes before and around the length field)', () => {
  const CAFE = Buffer.from([0xca, 0xfe]);

  test("Netty's 0xCAFE example with the header stripped: the magic is written, not zeroes", () => {
    // Example 4's layout, delivered without its header: send() must still write the magic.
    const framing = lengthField({ lengthOffset: 2, lengthSize: 3, header: bytes(CAFE, [0, 0, 0]) });
    expect(framing.strip).toBe(5);
    const wire = encodeAll(framing, [HELLO]);
    expect(wire).toEqual(bytes(CAFE, [0x00, 0x00, 0x0c], HELLO));
    // The in-place fast path writes the same header.
    const target = Buffer.alloc(7, 0xee);
    expect(framing.encodeHeader?.(HELLO.length, target, 1)).toBe(5);
    expect([...target]).toEqual([0xee, 0xca, 0xfe, 0x00, 0x00, 0x0c, 0xee]);
  });

  test('a header function is asked for each message, and send() then writes in no fast path', () => {
    let sequence = 0;
    const framing = lengthField({
      lengthOffset: 2,
      lengthSize: 2,
      header: (message) => Buffer.from([sequence++, message[0] ?? 0, 0, 0]),
    });
    expect('encodeHeader' in framing).toBe(false);
    expect(encodeAll(framing, [Buffer.from('ab'), Buffer.from('c')])).toEqual(
      bytes([0, 0x61, 0, 2], Buffer.from('ab'), [1, 0x63, 0, 1], Buffer.from('c')),
    );
  });

  test('the template is copied: changing the caller array later changes no frame', () => {
    const template = Buffer.from([0xca, 0xfe, 0, 0]);
    const framing = lengthField({ lengthOffset: 2, lengthSize: 2, header: template });
    template[0] = 0;
    expect(encodeAll(framing, [Buffer.from('x')])).toEqual(bytes(CAFE, [0, 1], Buffer.from('x')));
  });

  test('a template of the wrong size or type is a TypeError at construction', () => {
    expect(() => lengthField({ lengthOffset: 2, lengthSize: 2, header: CAFE })).toThrow(
      new TypeError('The "header" option must be 4 bytes long (the "strip" bytes of each frame); got 2.'),
    );
    expect(() => lengthField({ strip: 0, header: Buffer.alloc(4) })).toThrow(/must be 0 bytes long/);
    expect(() => lengthField({ header: 'CAFE' as unknown as Uint8Array })).toThrow(
      /The "header" option must be a Uint8Array or a function returning one; got/,
    );
  });

  test('a header function answering the wrong size is a RangeError from send(), nothing encoded', () => {
    const framing = lengthField({ header: () => Buffer.alloc(3) });
    expect(() => framing.encode(Buffer.from('x'))).toThrow(RangeError);
    expect(() => framing.encode(Buffer.from('x'))).toThrow(/must return 4 bytes/);
    const notBytes = lengthField({ header: (() => 'abcd') as unknown as () => Uint8Array });
    expect(() => notBytes.encode(Buffer.from('x'))).toThrow(RangeError);
  });
});

describe('lengthField: strip below the header size (Netty default initialBytesToStrip = 0)', () => {
  test('an echo of what was received is the same frame, not a doubled header', () => {
    const framing = lengthField({ lengthSize: 2, strip: 0 });
    const { assembler, messages } = record({ framing });
    const frame = bytes([0x00, 0x05], Buffer.from('hello'));
    assembler.push(frame);
    expect(messages).toEqual([frame]);
    expect(encodeAll(framing, messages)).toEqual(frame);
  });

  test('the length field inside the message is rewritten for its length; other header bytes kept', () => {
    const framing = lengthField({ lengthOffset: 2, lengthSize: 2, strip: 1 });
    // The message carries the header's last 3 bytes: one magic byte and a placeholder length.
    const message = bytes([0xfe, 0x99, 0x99], Buffer.from('abc'));
    const wire = encodeAll(framing, [message]);
    expect(wire).toEqual(bytes([0x00, 0xfe, 0x00, 0x03], Buffer.from('abc')));
    expect(message).toEqual(bytes([0xfe, 0x99, 0x99], Buffer.from('abc'))); // the caller's is untouched
    const { assembler, messages } = record({ framing });
    assembler.push(wire);
    expect(messages).toEqual([bytes([0xfe, 0x00, 0x03], Buffer.from('abc'))]);
  });

  test('a message shorter than the header bytes it must carry is a RangeError', () => {
    const framing = lengthField({ lengthSize: 4, strip: 0 });
    expect(() => framing.encode(Buffer.from('ab'))).toThrow(
      new RangeError(
        'With strip 0, a message must start with the 4 header bytes the peer receives; got 2 bytes.',
      ),
    );
    expect('encodeHeader' in framing).toBe(false);
    expect(encodeAll(framing, [Buffer.alloc(4, 0xff)])).toEqual(Buffer.from([0, 0, 0, 0]));
  });

  test('strip past the header: the bytes after the field come from the header option', () => {
    // HDR1, a 1-byte length, HDR2 (counted by lengthAdjustment 1); all three stripped.
    const framing = lengthField({
      lengthOffset: 1,
      lengthSize: 1,
      lengthAdjustment: 1,
      strip: 3,
      header: Buffer.from([0xca, 0, 0xfe]),
    });
    const wire = encodeAll(framing, [HELLO]);
    expect(wire).toEqual(bytes([0xca, 0x0c, 0xfe], HELLO));
    const { assembler, messages } = record({ framing });
    assembler.push(wire);
    expect(messages).toEqual([HELLO]);
  });
});
