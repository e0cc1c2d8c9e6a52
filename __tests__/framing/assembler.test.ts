import { DEFAULT_MAX_MESSAGE_SIZE, MessageAssembler } from '../../src/framing/assembler';
import {
  NEED_MORE,
  type FrameLength,
  type FrameScanner,
  type Framing,
  type LengthFraming,
  type ScanFraming,
} from '../../src/framing/framing';
import { lengthField } from '../../src/framing/length-field';
import {
  FrameTooLargeError,
  FramingHookError,
  InvalidFrameLengthError,
  SockframeError,
} from '../../src/errors';
import {
  encodeAll,
  isViewOf,
  netstring,
  pushCut,
  pushInChunks,
  record,
  texts,
  unpooled,
  type Recorder,
  type RecorderOptions,
} from './helpers';

/** The default framing's wire format: a 4-byte big-endian payload length, then the payload. */
function frame(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** The gosof way: the user's own header is a u32 LE length of the whole message, delivered whole. */
const gosof = (): LengthFraming => ({ headerSize: 4, messageLength: (head) => head.readUInt32LE(0) });

function gosofMessage(body: string): Buffer {
  const message = Buffer.alloc(4 + body.length);
  message.writeUInt32LE(message.length);
  message.write(body, 4, 'latin1');
  return message;
}

/** A length framing whose hook gives `answer` for every header. */
function answering(answer: unknown, headerSize = 4): LengthFraming {
  return { headerSize, messageLength: () => answer as number };
}

const PAYLOADS = ['hello', '', 'a', 'world!', '', 'x'.repeat(9)];
const STREAM = Buffer.concat(PAYLOADS.map(frame));

describe('MessageAssembler: delivery however the stream is split', () => {
  test('a stream pushed whole yields every message in order', () => {
    const { assembler, messages, errors } = record();
    assembler.push(STREAM);
    expect(texts(messages)).toEqual(PAYLOADS);
    expect(errors).toEqual([]);
    expect(assembler.bufferedBytes).toBe(0);
    expect(assembler.messageCount).toBe(PAYLOADS.length);
  });

  test('split at every offset', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const { assembler, messages, errors } = record();
      pushCut(assembler, STREAM, [cut]);
      expect(texts(messages)).toEqual(PAYLOADS);
      expect(errors).toEqual([]);
    }
  });

  test('split at every pair of offsets', () => {
    for (let a = 0; a <= STREAM.length; a++) {
      for (let b = a; b <= STREAM.length; b++) {
        const { assembler, messages } = record();
        pushCut(assembler, STREAM, [a, b]);
        expect(texts(messages)).toEqual(PAYLOADS);
      }
    }
  });

  test('one byte at a time, delivering each message on its last byte', () => {
    const { assembler, messages } = record();
    const ends = new Set<number>();
    let end = 0;
    for (const p of PAYLOADS) ends.add((end += 4 + p.length));
    let lastEnd = 0;
    for (let i = 0; i < STREAM.length; i++) {
      const before = messages.length;
      assembler.push(STREAM.subarray(i, i + 1));
      if (ends.has(i + 1)) lastEnd = i + 1;
      expect(messages.length - before).toBe(ends.has(i + 1) ? 1 : 0);
      expect(assembler.bufferedBytes).toBe(i + 1 - lastEnd);
    }
    expect(texts(messages)).toEqual(PAYLOADS);
  });

  test('bufferedBytes counts the bytes of the incomplete message', () => {
    const { assembler } = record();
    const bytes = frame('abcdef');
    assembler.push(bytes.subarray(0, 2));
    expect(assembler.bufferedBytes).toBe(2);
    assembler.push(bytes.subarray(2, 7));
    expect(assembler.bufferedBytes).toBe(7);
    assembler.push(Buffer.concat([bytes.subarray(7), frame('z').subarray(0, 3)]));
    expect(assembler.bufferedBytes).toBe(3);
    expect(assembler.messageCount).toBe(1);
  });

  test('an empty chunk changes nothing', () => {
    const { assembler, messages } = record();
    assembler.push(Buffer.alloc(0));
    assembler.push(STREAM.subarray(0, 3));
    assembler.push(Buffer.alloc(0));
    assembler.push(STREAM.subarray(3));
    expect(texts(messages)).toEqual(PAYLOADS);
  });
});

describe('MessageAssembler: views and copies', () => {
  test('messages inside one pushed chunk are views of it', () => {
    const chunk = unpooled(STREAM);
    const { assembler, messages } = record();
    assembler.push(chunk);
    expect(messages).toHaveLength(PAYLOADS.length);
    for (const message of messages) {
      expect(message.buffer).toBe(chunk.buffer);
      expect(isViewOf(message, chunk)).toBe(true);
    }
    // A view shares memory: writing the chunk shows through.
    chunk[4] = 0x4a; // 'h' of "hello" becomes 'J'
    expect(messages[0]?.toString()).toBe('Jello');
  });

  test('a message spanning chunks is copied into a fresh buffer; its neighbours stay views', () => {
    const bytes = Buffer.concat([frame('first'), frame('spanning'), frame('last')]);
    const cut = 9 + 4 + 3; // inside "spanning"
    const a = unpooled(bytes.subarray(0, cut));
    const b = unpooled(bytes.subarray(cut));
    const { assembler, messages } = record();
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

  test('the pushed chunk may be reused by the caller once push returns for a completed message', () => {
    // The spanning message's bytes were copied, so overwriting both chunks is harmless.
    const bytes = frame('payload');
    const scratch = Buffer.alloc(bytes.length);
    const { assembler, messages } = record();
    bytes.copy(scratch);
    assembler.push(scratch.subarray(0, 6));
    assembler.push(scratch.subarray(6));
    scratch.fill(0x21);
    expect(messages[0]?.toString()).toBe('payload');
  });
});

describe('MessageAssembler: a custom hook, the gosof way', () => {
  const bodies = ['ping', '', 'a longer body', 'z'];
  const stream = Buffer.concat(bodies.map(gosofMessage));

  test('delivers each message whole, header included', () => {
    const { assembler, messages } = record({ framing: gosof() });
    assembler.push(stream);
    expect(messages.map((m) => m.toString('latin1', 4))).toEqual(bodies);
    expect(messages.map((m) => m.readUInt32LE(0))).toEqual(bodies.map((b) => b.length + 4));
  });

  test('split at every offset and byte by byte', () => {
    const expected = bodies.map(gosofMessage);
    for (let cut = 0; cut <= stream.length; cut++) {
      const { assembler, messages } = record({ framing: gosof() });
      pushCut(assembler, stream, [cut]);
      expect(messages).toEqual(expected);
    }
    const { assembler, messages } = record({ framing: gosof() });
    pushInChunks(assembler, stream, 1);
    expect(messages).toEqual(expected);
  });

  test('the hook is only ever called with at least headerSize contiguous bytes', () => {
    const seen: number[] = [];
    const framing: LengthFraming = {
      headerSize: 4,
      messageLength(head) {
        seen.push(head.length);
        return head.readUInt32LE(0);
      },
    };
    const { assembler, messages } = record({ framing });
    pushInChunks(assembler, stream, 1);
    pushInChunks(assembler, stream, 3);
    assembler.push(stream);
    expect(messages).toHaveLength(3 * bodies.length);
    expect(seen.length).toBeGreaterThanOrEqual(3 * bodies.length);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(4);
  });

  test('messageLengthAt, when given, is preferred and gets the buffer and offset', () => {
    const calls: Array<[number, number]> = [];
    const framing: LengthFraming = {
      headerSize: 4,
      messageLength: () => {
        throw new Error('messageLength must not be called when messageLengthAt exists');
      },
      messageLengthAt(buffer, offset) {
        calls.push([buffer.length, offset]);
        return buffer.readUInt32LE(offset);
      },
    };
    const { assembler, messages, errors } = record({ framing });
    assembler.push(stream);
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(bodies.length);
    expect(calls.map(([, offset]) => offset)).toEqual([0, 8, 12, 29]);
  });
});

describe('MessageAssembler: zero-length payloads', () => {
  test('many empty messages in one chunk are delivered as empty Buffers', () => {
    const count = 10_000;
    const { assembler, messages } = record();
    assembler.push(Buffer.concat(Array.from({ length: count }, () => frame(''))));
    expect(messages).toHaveLength(count);
    expect(messages.every((m) => Buffer.isBuffer(m) && m.length === 0)).toBe(true);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('empty messages pushed byte by byte, and a header-only gosof message', () => {
    const { assembler, messages } = record();
    pushInChunks(assembler, Buffer.concat([frame(''), frame(''), frame('x'), frame('')]), 1);
    expect(texts(messages)).toEqual(['', '', 'x', '']);

    const own = record({ framing: gosof() });
    own.assembler.push(Buffer.concat([gosofMessage(''), gosofMessage('')]));
    expect(own.messages.map((m) => m.length)).toEqual([4, 4]);
  });

  test('a per-message strip equal to the length delivers an empty Buffer', () => {
    const framing: LengthFraming = { headerSize: 2, messageLength: () => ({ length: 2, strip: 2 }) };
    const { assembler, messages, errors } = record({ framing });
    assembler.push(Buffer.alloc(7));
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.length)).toEqual([0, 0, 0]);
    expect(assembler.bufferedBytes).toBe(1);
  });
});

describe('MessageAssembler: errors', () => {
  function failWith(framing: Framing, bytes: Buffer, options: RecorderOptions = {}): Recorder {
    const recorder = record({ ...options, framing });
    recorder.assembler.push(bytes);
    return recorder;
  }

  test('a hook that throws fails the stream with ERR_FRAMING_HOOK_FAILED and the error as cause', () => {
    const original = new Error('bad header');
    const framing: LengthFraming = {
      headerSize: 4,
      messageLength: () => {
        throw original;
      },
    };
    const { assembler, errors, messages } = failWith(framing, Buffer.alloc(8));
    expect(errors).toHaveLength(1);
    const err = errors[0];
    expect(err).toBeInstanceOf(FramingHookError);
    expect(err).toBeInstanceOf(SockframeError);
    expect(err?.code).toBe('ERR_FRAMING_HOOK_FAILED');
    expect(err?.cause).toBe(original);
    expect(err?.message).toContain('bad header');
    expect(assembler.error).toBe(err);
    expect(messages).toEqual([]);
  });

  test('a hook that throws a non-Error still fails with ERR_FRAMING_HOOK_FAILED', () => {
    const framing: LengthFraming = {
      headerSize: 1,
      messageLength: () => {
        throw 'plain string'; // eslint-disable-line @typescript-eslint/only-throw-error
      },
    };
    const { errors } = failWith(framing, Buffer.alloc(1));
    expect(errors[0]).toBeInstanceOf(FramingHookError);
    expect(errors[0]?.cause).toBe('plain string');
  });

  test('a SockframeError thrown by the hook is passed through as it is', () => {
    const own = new InvalidFrameLengthError('my header is wrong', 7);
    const framing: LengthFraming = {
      headerSize: 4,
      messageLength: () => {
        throw own;
      },
    };
    const { errors } = failWith(framing, Buffer.alloc(8));
    expect(errors).toEqual([own]);
    expect(errors[0]).toBe(own);
  });

  test.each([
    ['NaN', NaN],
    ['negative', -1],
    ['fractional', 5.5],
    ['-Infinity', -Infinity],
    ['a numeric string', '8'],
    ['null', null],
    ['undefined', undefined],
    ['a bigint', 8n],
    ['a boolean', true],
    ['another symbol', Symbol('more')],
    ['an object without length', {}],
    ['an object with a string length', { length: '8' }],
    ['an object with a fractional length', { length: 8.5 }],
  ])('a hook returning %s fails with ERR_INVALID_FRAME_LENGTH', (_label, answer) => {
    const { errors, messages } = failWith(answering(answer), Buffer.alloc(16));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
    expect(errors[0]?.code).toBe('ERR_INVALID_FRAME_LENGTH');
    expect(messages).toEqual([]);
  });

  test.each([0, 1, 3])(
    'a length of %i, shorter than the 4-byte header, is ERR_INVALID_FRAME_LENGTH',
    (len) => {
      const { errors } = failWith(answering(len), Buffer.alloc(16));
      expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
      expect((errors[0] as InvalidFrameLengthError).length).toBe(len);
    },
  );

  test('a length equal to headerSize is a valid header-only message', () => {
    const { errors, messages } = failWith(answering(4), Buffer.alloc(8));
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.length)).toEqual([4, 4]);
  });

  test('a length above maxMessageSize fails as soon as the header is known, before the body', () => {
    const { assembler, errors } = record({ maxMessageSize: 100 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(97); // 101 bytes with the header
    assembler.push(header.subarray(0, 3));
    expect(errors).toEqual([]);
    assembler.push(header.subarray(3));
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBe(101);
    expect(err.limit).toBe(100);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('a frame of exactly maxMessageSize bytes, header included, is accepted', () => {
    const { assembler, errors, messages } = record({ maxMessageSize: 100 });
    assembler.push(frame(Buffer.alloc(96, 1)));
    expect(errors).toEqual([]);
    expect(messages[0]?.length).toBe(96);
  });

  test('a per-message answer larger than maxMessageSize is ERR_FRAME_TOO_LARGE', () => {
    const { errors } = failWith(answering({ length: 1000, strip: 0 }), Buffer.alloc(4), {
      maxMessageSize: 999,
    });
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
  });

  test('the default maxMessageSize is 16 MiB', () => {
    const { assembler, errors } = record();
    expect(assembler.maxMessageSize).toBe(DEFAULT_MAX_MESSAGE_SIZE);
    expect(DEFAULT_MAX_MESSAGE_SIZE).toBe(16 * 1024 * 1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(16 * 1024 * 1024 - 4);
    assembler.push(header);
    expect(errors).toEqual([]);
    header.writeUInt32BE(16 * 1024 * 1024 - 3);
    const second = record();
    second.assembler.push(header);
    expect(second.errors[0]).toBeInstanceOf(FrameTooLargeError);
  });

  test.each([
    ['the framing strip', { headerSize: 2, strip: 5, messageLength: () => 4 }],
    ['a per-message strip', answering({ length: 4, strip: 5 }, 2)],
    ['a negative per-message strip', answering({ length: 4, strip: -1 }, 2)],
    ['a fractional per-message strip', answering({ length: 4, strip: 1.5 }, 2)],
    ['a string per-message strip', answering({ length: 4, strip: '1' }, 2)],
  ])('%s larger than the frame or not a count is ERR_INVALID_FRAME_LENGTH', (_label, framing) => {
    const { errors, messages } = failWith(framing, Buffer.alloc(8));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
    expect(messages).toEqual([]);
  });

  test('after an error nothing more is delivered, further pushes are ignored, onError fired once', () => {
    const onError = jest.fn();
    const onMessage = jest.fn();
    const assembler = new MessageAssembler({ maxMessageSize: 64, onMessage, onError });
    const tooLarge = Buffer.alloc(4);
    tooLarge.writeUInt32BE(1000);
    // Two good messages, then a bad header, then a good message in the same chunk.
    assembler.push(Buffer.concat([frame('one'), frame('two'), tooLarge, frame('three')]));
    expect(onMessage.mock.calls.map(([m]) => String(m))).toEqual(['one', 'two']);
    expect(onError).toHaveBeenCalledTimes(1);
    const err: unknown = (onError.mock.calls as unknown[][])[0]?.[0];
    expect(err).toBeInstanceOf(FrameTooLargeError);
    assembler.push(frame('four'));
    assembler.push(tooLarge);
    pushInChunks(assembler, STREAM, 1);
    expect(onMessage).toHaveBeenCalledTimes(2);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(assembler.bufferedBytes).toBe(0);
    expect(assembler.messageCount).toBe(2);
    expect(assembler.error).toBe(err);
  });

  test('an error while a message is pending drops its bytes', () => {
    const framing: LengthFraming = {
      headerSize: 4,
      messageLength: (head) => {
        if (head[0] === 0xff) throw new Error('bad');
        return head.readUInt32LE(0);
      },
    };
    const { assembler, errors } = record({ framing });
    assembler.push(Buffer.from([0xff, 0, 0]));
    expect(assembler.bufferedBytes).toBe(3);
    assembler.push(Buffer.from([0]));
    expect(errors).toHaveLength(1);
    expect(assembler.bufferedBytes).toBe(0);
  });
});

describe('MessageAssembler: reset()', () => {
  test('clears a partial message', () => {
    const { assembler, messages } = record();
    assembler.push(frame('abandoned').subarray(0, 7));
    expect(assembler.bufferedBytes).toBe(7);
    assembler.reset();
    expect(assembler.bufferedBytes).toBe(0);
    assembler.push(frame('fresh'));
    expect(texts(messages)).toEqual(['fresh']);
  });

  test('clears a partial header of a NEED_MORE hook', () => {
    const { assembler, messages, errors } = record({ framing: netstring() });
    assembler.push(Buffer.from('12'));
    assembler.reset();
    assembler.push(Buffer.from('3:abc'));
    expect(errors).toEqual([]);
    expect(texts(messages)).toEqual(['abc']);
  });

  test('clears an error, and the assembler works again', () => {
    const { assembler, messages, errors } = record({ maxMessageSize: 10 });
    assembler.push(frame('far too long for the limit'));
    expect(errors).toHaveLength(1);
    assembler.reset();
    expect(assembler.error).toBeNull();
    assembler.push(frame('ok'));
    expect(texts(messages)).toEqual(['ok']);
    assembler.push(frame('far too long again'));
    expect(errors).toHaveLength(2);
  });

  test('keeps messageCount (a total since construction)', () => {
    const { assembler } = record();
    assembler.push(STREAM);
    assembler.reset();
    expect(assembler.messageCount).toBe(PAYLOADS.length);
  });
});

describe('MessageAssembler: NEED_MORE hooks (variable-length headers)', () => {
  const payloads = ['hello', '', 'a'.repeat(120), 'x', 'b'.repeat(1234)];
  const framing = netstring();
  const stream = encodeAll(
    framing,
    payloads.map((p) => Buffer.from(p)),
  );

  test('pushed whole', () => {
    const { assembler, messages, errors } = record({ framing: netstring() });
    assembler.push(stream);
    expect(errors).toEqual([]);
    expect(texts(messages)).toEqual(payloads);
  });

  test('split at every offset: headers straddling chunks', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { assembler, messages, errors } = record({ framing: netstring() });
      pushCut(assembler, stream, [cut]);
      expect(errors).toEqual([]);
      expect(texts(messages)).toEqual(payloads);
    }
  });

  test('one byte at a time', () => {
    const { assembler, messages } = record({ framing: netstring() });
    pushInChunks(assembler, stream, 1);
    expect(texts(messages)).toEqual(payloads);
  });

  test('a header of many bytes straddling many chunks', () => {
    // Leading zeros make a 300-byte header, each pushed on its own.
    const bytes = Buffer.from(`${'0'.repeat(297)}12:hello, world0:`);
    for (const size of [1, 2, 7, 64, 65, 200]) {
      const { assembler, messages, errors } = record({ framing: netstring() });
      pushInChunks(assembler, bytes, size);
      expect(errors).toEqual([]);
      expect(texts(messages)).toEqual(['hello, world', '']);
    }
  });

  test('a header that never ends is refused once it passes maxMessageSize', () => {
    const { assembler, errors } = record({ framing: netstring(), maxMessageSize: 100 });
    let pushed = 0;
    while (errors.length === 0 && pushed < 1000) {
      assembler.push(Buffer.from('0'));
      pushed++;
    }
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect(pushed).toBeLessThanOrEqual(101);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('a never-ending header in one chunk is refused too', () => {
    const { errors } = failWithNeedMore(Buffer.alloc(200, 0x30), 100);
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
  });

  test('a hook that said NEED_MORE and then a length no longer than what it saw is refused', () => {
    let calls = 0;
    const framing: LengthFraming = {
      headerSize: 1,
      messageLength: () => (++calls === 1 ? NEED_MORE : 1),
    };
    const { assembler, errors } = record({ framing });
    assembler.push(Buffer.from([1]));
    assembler.push(Buffer.from([2]));
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });

  function failWithNeedMore(bytes: Buffer, maxMessageSize: number): Recorder {
    const recorder = record({ framing: netstring(), maxMessageSize });
    recorder.assembler.push(bytes);
    return recorder;
  }
});

describe('MessageAssembler: per-message { length, strip }', () => {
  // A 1-byte kind, then a 1-byte length of the body; kind 1 keeps its header, kind 2 strips it.
  const framing: LengthFraming = {
    headerSize: 2,
    strip: 0,
    messageLength: (head): FrameLength => ({
      length: 2 + (head[1] as number),
      ...(head[0] === 2 ? { strip: 2 } : {}),
    }),
  };
  const stream = Buffer.from([1, 3, 0x61, 0x62, 0x63, 2, 2, 0x64, 0x65, 1, 0, 2, 0]);

  test('strip applies per message and defaults to the framing strip', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { assembler, messages, errors } = record({ framing });
      pushCut(assembler, stream, [cut]);
      expect(errors).toEqual([]);
      expect(messages.map((m) => [...m])).toEqual([[1, 3, 0x61, 0x62, 0x63], [0x64, 0x65], [1, 0], []]);
    }
  });
});

describe('MessageAssembler: re-entrancy from onMessage', () => {
  test('reset() inside onMessage drops the rest of the chunk being pushed', () => {
    const seen: string[] = [];
    const assembler: MessageAssembler = new MessageAssembler({
      onMessage: (m) => {
        seen.push(m.toString());
        if (m.toString() === 'stop') assembler.reset();
      },
      onError: () => {
        throw new Error('no error expected');
      },
    });
    assembler.push(
      Buffer.concat([frame('a'), frame('stop'), frame('dropped'), frame('partial').subarray(0, 5)]),
    );
    expect(seen).toEqual(['a', 'stop']);
    expect(assembler.bufferedBytes).toBe(0);
    assembler.push(frame('after'));
    expect(seen).toEqual(['a', 'stop', 'after']);
  });

  test('reset() inside onMessage of a spanning message drops the rest of that chunk', () => {
    const seen: string[] = [];
    const assembler: MessageAssembler = new MessageAssembler({
      onMessage: (m) => {
        seen.push(m.toString());
        assembler.reset();
      },
      onError: () => undefined,
    });
    const bytes = Buffer.concat([frame('spans'), frame('dropped')]);
    assembler.push(bytes.subarray(0, 6));
    assembler.push(bytes.subarray(6));
    expect(seen).toEqual(['spans']);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('an exception thrown by onMessage propagates out of push; reset() recovers', () => {
    const seen: string[] = [];
    const failure = new Error('listener broke');
    const assembler = new MessageAssembler({
      onMessage: (m) => {
        seen.push(m.toString());
        if (m.toString() === 'boom') throw failure;
      },
      onError: () => undefined,
    });
    expect(() => assembler.push(Buffer.concat([frame('a'), frame('boom'), frame('lost')]))).toThrow(failure);
    expect(seen).toEqual(['a', 'boom']);
    expect(assembler.error).toMatchObject({ code: 'ERR_LISTENER_THREW', cause: failure });
    // Fail-stop: the rest of the throwing chunk is never delivered, and nothing is until reset().
    assembler.push(frame('ignored'));
    expect(seen).toEqual(['a', 'boom']);
    assembler.reset();
    assembler.push(frame('b'));
    expect(seen).toEqual(['a', 'boom', 'b']);
  });

  test('an exception from onMessage for a spanning message propagates too', () => {
    const assembler = new MessageAssembler({
      onMessage: () => {
        throw new RangeError('nope');
      },
      onError: () => undefined,
    });
    const bytes = frame('spanning');
    assembler.push(bytes.subarray(0, 5));
    expect(() => assembler.push(bytes.subarray(5))).toThrow(RangeError);
    expect(assembler.bufferedBytes).toBe(0);
  });
});

describe('MessageAssembler: scanning framings', () => {
  /** Ends a message after each 0x00 byte; no state, so reset() does nothing. */
  const zeroTerminated = (scan?: FrameScanner['scan']): ScanFraming => ({
    trailer: 1,
    createScanner: () => ({
      scan:
        scan ??
        ((bytes) => {
          const at = bytes.indexOf(0);
          return at < 0 ? -1 : at + 1;
        }),
      reset: () => undefined,
    }),
  });

  test('a custom scanner cuts the stream, trailer removed', () => {
    const { assembler, messages } = record({ framing: zeroTerminated() });
    pushCut(assembler, Buffer.from('ab\0\0cde\0f'), [1, 3, 5]);
    expect(texts(messages)).toEqual(['ab', '', 'cde']);
    expect(assembler.bufferedBytes).toBe(1);
  });

  test('a scanner that throws fails with ERR_FRAMING_HOOK_FAILED', () => {
    const original = new Error('scan failed');
    const framing = zeroTerminated(() => {
      throw original;
    });
    const { assembler, errors } = record({ framing });
    assembler.push(Buffer.from('abc'));
    expect(errors[0]).toBeInstanceOf(FramingHookError);
    expect(errors[0]?.cause).toBe(original);
  });

  test.each([0, 2.5, 99, NaN])('a scanner returning %p fails with ERR_INVALID_FRAME_LENGTH', (end) => {
    const { assembler, errors } = record({ framing: zeroTerminated(() => end) });
    assembler.push(Buffer.from('abc'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });

  test('a frame shorter than its trailer fails with ERR_INVALID_FRAME_LENGTH', () => {
    const framing: ScanFraming = { ...zeroTerminated(() => 1), trailer: 2 };
    const { assembler, errors } = record({ framing });
    assembler.push(Buffer.from('abc'));
    expect(errors[0]).toBeInstanceOf(InvalidFrameLengthError);
  });
});

describe('MessageAssembler: options', () => {
  const noop = (): void => undefined;

  test('a framing factory is called once per assembler', () => {
    const factory = jest.fn(() => lengthField({ lengthSize: 2 }));
    const a = new MessageAssembler({ framing: factory, onMessage: noop, onError: noop });
    expect(factory).toHaveBeenCalledTimes(1);
    const b = new MessageAssembler({ framing: factory, onMessage: noop, onError: noop });
    expect(factory).toHaveBeenCalledTimes(2);
    const [first, second] = factory.mock.results.map((r) => r.value as Framing);
    expect(a.activeFraming).toBe(first);
    expect(b.activeFraming).toBe(second);
    expect(first).not.toBe(second);
    a.push(Buffer.from([0, 1, 0x41, 0, 0]));
    a.push(Buffer.from([2, 0x42, 0x43]));
    expect(factory).toHaveBeenCalledTimes(2);
  });

  test('the default framing is lengthField(): 4-byte big-endian payload length, stripped', () => {
    const { assembler, messages } = record();
    assembler.push(Buffer.from([0, 0, 0, 2, 0x68, 0x69]));
    expect(texts(messages)).toEqual(['hi']);
  });

  test("the smaller of the assembler's and the framing's maxMessageSize applies", () => {
    expect(record({ framing: lengthField({ maxMessageSize: 50 }) }).assembler.maxMessageSize).toBe(50);
    expect(
      record({ framing: lengthField({ maxMessageSize: 50 }), maxMessageSize: 20 }).assembler.maxMessageSize,
    ).toBe(20);
  });

  test.each<[string, unknown, RegExp]>([
    ['no options', undefined, /options object/],
    ['null options', null, /options object/],
    ['a missing onMessage', { onError: noop }, /"onMessage" option must be a function/],
    ['a non-function onMessage', { onMessage: 'x', onError: noop }, /"onMessage" option must be a function/],
    ['a missing onError', { onMessage: noop }, /"onError" option must be a function/],
    [
      'maxMessageSize 0',
      { onMessage: noop, onError: noop, maxMessageSize: 0 },
      /"maxMessageSize".*positive integer/,
    ],
    ['maxMessageSize -1', { onMessage: noop, onError: noop, maxMessageSize: -1 }, /positive integer; got -1/],
    ['maxMessageSize 1.5', { onMessage: noop, onError: noop, maxMessageSize: 1.5 }, /got 1\.5/],
    ['maxMessageSize NaN', { onMessage: noop, onError: noop, maxMessageSize: NaN }, /got NaN/],
    ['maxMessageSize Infinity', { onMessage: noop, onError: noop, maxMessageSize: Infinity }, /got Infinity/],
    ['maxMessageSize "10"', { onMessage: noop, onError: noop, maxMessageSize: '10' }, /got "10"/],
    ['a framing of headerSize 0', { onMessage: noop, onError: noop, framing: answering(4, 0) }, /headerSize/],
    ['a fractional headerSize', { onMessage: noop, onError: noop, framing: answering(4, 1.5) }, /headerSize/],
    ['a framing that is a string', { onMessage: noop, onError: noop, framing: 'lengthField' }, /"framing"/],
    [
      'a framing without hooks',
      { onMessage: noop, onError: noop, framing: { headerSize: 4 } },
      /messageLength/,
    ],
    [
      'a negative framing strip',
      { onMessage: noop, onError: noop, framing: { headerSize: 4, strip: -1, messageLength: () => 4 } },
      /"strip"/,
    ],
    [
      'a non-function encode',
      { onMessage: noop, onError: noop, framing: { headerSize: 4, messageLength: () => 4, encode: 1 } },
      /"encode"/,
    ],
    [
      'encodeHeader without maxHeaderSize',
      {
        onMessage: noop,
        onError: noop,
        framing: { headerSize: 4, messageLength: () => 4, encodeHeader: () => 4 },
      },
      /maxHeaderSize/,
    ],
    [
      'a scanning framing with a negative trailer',
      { onMessage: noop, onError: noop, framing: { trailer: -1, createScanner: noop } },
      /"trailer"/,
    ],
    ['a factory returning nothing', { onMessage: noop, onError: noop, framing: noop }, /"framing"/],
  ])('%s throws a TypeError', (_label, options, message) => {
    expect(() => new MessageAssembler(options as never)).toThrow(TypeError);
    expect(() => new MessageAssembler(options as never)).toThrow(message);
  });
});
