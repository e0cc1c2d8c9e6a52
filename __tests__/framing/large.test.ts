import { delimited } from '../../src/framing/delimiter';
import type { Framing, LengthFraming } from '../../src/framing/framing';
import { lengthField } from '../../src/framing/length-field';
import { FrameTooLargeError } from '../../src/errors';
import { record } from './helpers';

const KiB = 1024;
const MiB = 1024 * KiB;
const MESSAGE = 64 * MiB;
const CHUNK = 64 * KiB;

interface Allocation {
  readonly by: string;
  readonly size: number;
}

/**
 * Records every Buffer allocation made through Buffer's factories, and the bytes moved by
 * Buffer#copy, while `run` runs. The spies are gone again before anything is asserted.
 */
function watch(run: () => void): { allocations: Allocation[]; copied: number } {
  const allocations: Allocation[] = [];
  let copied = 0;
  const factories = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat'] as const;
  const spies = factories.map((name) => {
    const original = Reflect.get(Buffer, name) as (...args: unknown[]) => Buffer;
    return jest.spyOn(Buffer, name).mockImplementation(((...args: unknown[]) => {
      const made = original.apply(Buffer, args);
      allocations.push({ by: name, size: made.length });
      return made;
    }) as never);
  });
  const proto = Buffer.prototype as Buffer;
  const originalCopy = Reflect.get(proto, 'copy') as (this: Buffer, ...args: unknown[]) => number;
  const copySpy = jest.spyOn(proto, 'copy').mockImplementation(function (
    this: Buffer,
    ...args: unknown[]
  ): number {
    const n = originalCopy.apply(this, args);
    copied += n;
    return n;
  });
  try {
    run();
  } finally {
    copySpy.mockRestore();
    for (const spy of spies) spy.mockRestore();
  }
  return { allocations, copied };
}

const total = (allocations: readonly Allocation[]): number => allocations.reduce((n, a) => n + a.size, 0);

/** Fills with a 251-byte pattern: cheap for 64 MiB, and misplaced bytes show (251 is prime). */
function patterned(size: number, avoid?: number): Buffer {
  const pattern = Buffer.alloc(251);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + 3) & 0xff;
  if (avoid !== undefined)
    for (let i = 0; i < pattern.length; i++) if (pattern[i] === avoid) pattern[i] = 0x20;
  const out = Buffer.allocUnsafeSlow(size);
  out.fill(pattern);
  return out;
}

/** The gosof way: a u32 little-endian length of the whole message, header included. */
const gosof = (): LengthFraming => ({ headerSize: 4, messageLength: (head) => head.readUInt32LE(0) });

interface LargeCase {
  readonly name: string;
  readonly framing: () => Framing;
  /** The wire bytes of one 64 MiB message, and the bytes the assembler must deliver. */
  readonly build: () => { stream: Buffer; expected: Buffer };
}

const LARGE_CASES: LargeCase[] = [
  {
    name: 'lengthField(), header stripped',
    framing: () => lengthField(),
    build: () => {
      const stream = patterned(4 + MESSAGE);
      stream.writeUInt32BE(MESSAGE, 0);
      return { stream, expected: stream.subarray(4) };
    },
  },
  {
    name: 'a gosof-style hook, delivered whole',
    framing: gosof,
    build: () => {
      const stream = patterned(MESSAGE);
      stream.writeUInt32LE(MESSAGE, 0);
      return { stream, expected: stream };
    },
  },
  {
    name: 'delimited(), newline dropped',
    framing: () => delimited(),
    build: () => {
      const stream = patterned(MESSAGE + 1, 0x0a);
      stream[MESSAGE] = 0x0a;
      return { stream, expected: stream.subarray(0, MESSAGE) };
    },
  },
];

describe('a 64 MiB message in 64 KiB chunks is copied exactly once', () => {
  test.each(LARGE_CASES)('$name', ({ framing, build }) => {
    const { stream, expected } = build();
    const { assembler, messages, errors } = record({ framing: framing(), maxMessageSize: MESSAGE + 8 });
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length; at += CHUNK) chunks.push(stream.subarray(at, at + CHUNK));
    const last = chunks.pop() as Buffer;

    // Until the last byte arrives, the chunks are only held: nothing is allocated or copied.
    const before = watch(() => {
      for (const chunk of chunks) assembler.push(chunk);
    });
    expect(before.allocations).toEqual([]);
    expect(before.copied).toBe(0);
    expect(messages).toHaveLength(0);
    expect(assembler.bufferedBytes).toBe(stream.length - last.length);

    const after = watch(() => assembler.push(last));
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(1);
    const message = messages[0] as Buffer;
    // One buffer of exactly the message's size, filled by copying each byte once.
    expect(after.allocations).toEqual([{ by: 'allocUnsafe', size: expected.length }]);
    expect(after.copied).toBe(expected.length);
    expect(message.length).toBe(expected.length);
    expect(message.buffer).not.toBe(stream.buffer);
    expect(message.equals(expected)).toBe(true);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('a header straddling the first chunks costs one small extra copy at most', () => {
    const stream = patterned(4 + MESSAGE);
    stream.writeUInt32BE(MESSAGE, 0);
    const { assembler, messages, errors } = record({ maxMessageSize: MESSAGE + 4 });
    const { allocations, copied } = watch(() => {
      assembler.push(stream.subarray(0, 1));
      assembler.push(stream.subarray(1, 3));
      for (let at = 3; at < stream.length; at += CHUNK) assembler.push(stream.subarray(at, at + CHUNK));
    });
    expect(errors).toEqual([]);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.equals(stream.subarray(4))).toBe(true);
    const big = allocations.filter((a) => a.size > 64);
    expect(big).toEqual([{ by: 'allocUnsafe', size: MESSAGE }]);
    expect(total(allocations)).toBeLessThanOrEqual(MESSAGE + 64);
    expect(copied).toBeLessThanOrEqual(MESSAGE + 64);
  });
});

describe('hostile lengths are refused before anything is allocated', () => {
  const header = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const body = Buffer.alloc(CHUNK, 0x61);

  test('0xFFFFFFFF in the default 4-byte field, with its body in the same chunk', () => {
    const { assembler, messages, errors } = record();
    const chunk = Buffer.concat([header, body]);
    const { allocations, copied } = watch(() => assembler.push(chunk));
    expect(allocations).toEqual([]);
    expect(copied).toBe(0);
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBe(0xffffffff + 4);
    expect(err.limit).toBe(16 * MiB);
    expect(messages).toEqual([]);
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('0xFFFFFFFF arriving one byte at a time, then its body', () => {
    const { assembler, errors } = record();
    const { allocations } = watch(() => {
      for (let i = 0; i < 4; i++) assembler.push(header.subarray(i, i + 1));
      for (let i = 0; i < 16; i++) assembler.push(body);
    });
    // Gathering the straddling header is the only allocation, and it is header-sized.
    expect(allocations.length).toBeLessThanOrEqual(1);
    expect(allocations.every((a) => a.size <= 4)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('a 4 GiB frame under a raised limit is held as the chunks that came, never preallocated', () => {
    const { assembler, errors } = record({ maxMessageSize: 2 ** 33 });
    const { allocations, copied } = watch(() => {
      assembler.push(header);
      for (let i = 0; i < 16; i++) assembler.push(body);
    });
    expect(errors).toEqual([]);
    expect(allocations).toEqual([]);
    expect(copied).toBe(0);
    expect(assembler.bufferedBytes).toBe(4 + 16 * CHUNK);
    assembler.reset();
    expect(assembler.bufferedBytes).toBe(0);
  });

  test.each([
    ['big', 'the default limit', undefined],
    ['little', 'the default limit', undefined],
    ['big', 'the largest limit allowed', Number.MAX_SAFE_INTEGER],
    ['little', 'the largest limit allowed', Number.MAX_SAFE_INTEGER],
  ] as const)('2^53 in an 8-byte %s-endian field is refused under %s', (endian, _label, maxMessageSize) => {
    const field = Buffer.alloc(8);
    if (endian === 'big') field.writeBigUInt64BE(2n ** 53n);
    else field.writeBigUInt64LE(2n ** 53n);
    const { assembler, messages, errors } = record({
      framing: lengthField({ lengthSize: 8, endian }),
      ...(maxMessageSize === undefined ? {} : { maxMessageSize }),
    });
    const { allocations, copied } = watch(() => {
      assembler.push(field.subarray(0, 5));
      assembler.push(field.subarray(5));
      assembler.push(body);
    });
    expect(allocations.length).toBeLessThanOrEqual(1);
    expect(allocations.every((a) => a.size <= 8)).toBe(true);
    expect(copied).toBeLessThanOrEqual(8);
    expect(errors).toHaveLength(1);
    const err = errors[0] as FrameTooLargeError;
    expect(err).toBeInstanceOf(FrameTooLargeError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.length).toBeGreaterThanOrEqual(2 ** 53);
    expect(messages).toEqual([]);
    expect(assembler.bufferedBytes).toBe(0);
  });
});
