/**
 * Property-based fuzzing of the MessageAssembler: random framings (random lengthField
 * parameters, varint, delimiters, fixed sizes, custom hooks that misbehave on purpose), random
 * limits and random splits, over valid, truncated, corrupted and random streams. The assembler
 * either yields exactly the encoded messages or exactly one typed error, never throws from
 * push(), and never spins (every hook call is counted against a budget linear in the input).
 */
import fc from 'fast-check';
import {
  delimited,
  fixedSize,
  InvalidFrameLengthError,
  lengthField,
  MessageAssembler,
  NEED_MORE,
  SockframeError,
  varint,
  type Framing,
  type FrameLength,
  type LengthFraming,
  type LengthSize,
} from 'sockframe';
import { payload, prng, report } from './support';

const DEFAULT_LIMIT = 16 * 1024 * 1024;
const FRAMING_CODES = new Set(['ERR_FRAME_TOO_LARGE', 'ERR_INVALID_FRAME_LENGTH', 'ERR_FRAMING_HOOK_FAILED']);

// ------------------------------------------------------------------ framings under test

type Spec =
  | {
      kind: 'lengthField';
      lengthOffset: number;
      lengthSize: LengthSize;
      lengthAdjustment: number;
      strip: number | undefined;
      endian: 'big' | 'little';
    }
  | { kind: 'varint' }
  | { kind: 'delimited'; delimiter: number[] }
  | { kind: 'fixed'; size: number }
  | { kind: 'command' };

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 4, arbitrary: lengthFieldSpec() },
  { weight: 1, arbitrary: fc.constant({ kind: 'varint' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('delimited' as const),
      delimiter: fc.array(fc.constantFrom(0x00, 0x0a, 0x0d, 0xff), { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('fixed' as const), size: fc.integer({ min: 1, max: 3000 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'command' as const }) },
);

function lengthFieldSpec(): fc.Arbitrary<Spec> {
  return fc
    .record({
      lengthOffset: fc.integer({ min: 0, max: 4 }),
      lengthSize: fc.constantFrom<LengthSize>(1, 2, 3, 4, 8),
      adjustment: fc.integer({ min: -3, max: 4 }),
      strip: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
      endian: fc.constantFrom<'big' | 'little'>('big', 'little'),
    })
    .map(({ lengthOffset, lengthSize, adjustment, strip, endian }) => ({
      kind: 'lengthField' as const,
      lengthOffset,
      lengthSize,
      // From a field that counts the whole header as well (negative) to extra header bytes after it.
      lengthAdjustment: adjustment < 0 ? adjustment * lengthSize - lengthOffset : adjustment,
      strip,
      endian,
    }));
}

/**
 * A custom hook reading a 5-byte header `[kind][u32 BE payload length]`. Kind 0 (and anything
 * from 10 up) is a normal message, kind 1 a per-message strip; kinds 2 to 9 misbehave: they
 * throw, or answer NaN, a negative number, less than the header, a strip past the end, a string.
 */
const GARBAGE: unknown = 'garbage';

function commandFraming(): LengthFraming {
  return {
    headerSize: 5,
    strip: 5,
    messageLength(head: Buffer): number | FrameLength {
      const kind = head[0] as number;
      const length = 5 + head.readUInt32BE(1);
      switch (kind) {
        case 1:
          return { length, strip: 1 };
        case 2:
          throw new Error('unknown kind');
        case 3:
          throw new InvalidFrameLengthError('the hook refuses this header', length);
        case 4:
          return NaN;
        case 5:
          return -length;
        case 6:
          return length % 5;
        case 7:
          return { length, strip: length + 1 };
        case 8:
          return GARBAGE as number;
        case 9:
          throw 'not even an Error'; // eslint-disable-line @typescript-eslint/only-throw-error
        default:
          return length;
      }
    },
  };
}

/** What the command hook answers for `kind`, to judge like the assembler does. */
function commandAnswer(kind: number, length: number): { code: string } | { length: unknown; strip: unknown } {
  switch (kind) {
    case 1:
      return { length, strip: 1 };
    case 2:
    case 9:
      return { code: 'ERR_FRAMING_HOOK_FAILED' };
    case 3:
      return { code: 'ERR_INVALID_FRAME_LENGTH' };
    case 4:
      return { length: NaN, strip: 5 };
    case 5:
      return { length: -length, strip: 5 };
    case 6:
      return { length: length % 5, strip: 5 };
    case 7:
      return { length, strip: length + 1 };
    case 8:
      return { length: 'garbage', strip: 5 };
    default:
      return { length, strip: 5 };
  }
}

function makeFraming(spec: Spec): Framing {
  switch (spec.kind) {
    case 'lengthField':
      return lengthField({
        lengthOffset: spec.lengthOffset,
        lengthSize: spec.lengthSize,
        lengthAdjustment: spec.lengthAdjustment,
        ...(spec.strip === undefined ? {} : { strip: spec.strip }),
        endian: spec.endian,
      });
    case 'varint':
      return varint();
    case 'delimited':
      return delimited({ delimiter: Uint8Array.from(spec.delimiter) });
    case 'fixed':
      return fixedSize(spec.size);
    case 'command':
      return commandFraming();
  }
}

// ------------------------------------------------------------------ building streams

interface Item {
  size: number;
  seed: number;
  /** Only used by the command hook: its header kind (0 = a normal message). */
  kind: number;
}

const itemArb: fc.Arbitrary<Item> = fc.record({
  size: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 64 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 2048 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  ),
  seed: fc.integer(),
  kind: fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 9 }) },
  ),
});

const limitArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 256 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 80_000 }) },
);

/** One message's bytes on the wire and what the assembler must make of them. */
interface Frame {
  wire: Buffer;
  outcome: { message: Buffer } | { code: string };
}

/** Judges a hook's answer as the contract says: type, limit, header, strip, in that order. */
function judge(length: unknown, strip: unknown, need: number, limit: number): { code: string } | null {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    return { code: 'ERR_INVALID_FRAME_LENGTH' };
  }
  if (length > limit) return { code: 'ERR_FRAME_TOO_LARGE' };
  if (length < need) return { code: 'ERR_INVALID_FRAME_LENGTH' };
  if (typeof strip !== 'number' || strip > length) return { code: 'ERR_INVALID_FRAME_LENGTH' };
  return null;
}

/** The bytes `framing` puts on the wire for `body`. */
function encoded(framing: Framing, body: Buffer): Buffer {
  const parts = framing.encode === undefined ? body : framing.encode(body);
  return Buffer.isBuffer(parts) ? parts : Buffer.concat(parts);
}

function frameOf(spec: Spec, framing: Framing, item: Item, limit: number): Frame {
  const random = prng(item.seed);
  switch (spec.kind) {
    case 'lengthField': {
      const f = framing as LengthFraming;
      const fieldMax = spec.lengthSize === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * spec.lengthSize) - 1;
      const strip = f.strip ?? 0;
      // send() takes what the peer's 'message' delivers: the frame less its first `strip` bytes,
      // so with strip below the header the message starts with the rest of the header.
      const shift = strip - f.headerSize;
      const lowest = Math.max(0, -shift, spec.lengthAdjustment - shift);
      const size = Math.min(Math.max(item.size, lowest), fieldMax + spec.lengthAdjustment - shift);
      const wire = encoded(f, payload(random, size));
      const verdict = judge(wire.length, strip, f.headerSize, limit);
      return { wire, outcome: verdict ?? { message: wire.subarray(strip) } };
    }
    case 'varint': {
      const body = payload(random, item.size);
      const wire = encoded(framing, body);
      const verdict = judge(wire.length, wire.length - body.length, 1, limit);
      return { wire, outcome: verdict ?? { message: body } };
    }
    case 'delimited': {
      // Payload bytes never include a delimiter byte, so no payload can end a message early.
      const body = payload(random, item.size);
      for (let i = 0; i < body.length; i++) if (spec.delimiter.includes(body[i] as number)) body[i] = 0x41;
      const wire = Buffer.concat([body, Buffer.from(spec.delimiter)]);
      return { wire, outcome: wire.length > limit ? { code: 'ERR_FRAME_TOO_LARGE' } : { message: body } };
    }
    case 'fixed': {
      const wire = payload(random, spec.size);
      return { wire, outcome: spec.size > limit ? { code: 'ERR_FRAME_TOO_LARGE' } : { message: wire } };
    }
    case 'command': {
      const body = payload(random, item.size);
      const head = Buffer.alloc(5);
      head[0] = item.kind;
      head.writeUInt32BE(body.length, 1);
      const wire = Buffer.concat([head, body]);
      const answer = commandAnswer(item.kind, wire.length);
      if ('code' in answer) return { wire, outcome: answer };
      const verdict = judge(answer.length, answer.strip, 5, limit);
      return { wire, outcome: verdict ?? { message: wire.subarray(answer.strip as number) } };
    }
  }
}

interface Expected {
  wire: Buffer;
  messages: Buffer[];
  code: string | undefined;
  /** Where the messages delivered before any error end on the wire. */
  ends: number[];
}

function expectedFor(spec: Spec, items: Item[], limit: number): Expected {
  const framing = makeFraming(spec);
  const parts: Buffer[] = [];
  const messages: Buffer[] = [];
  const ends: number[] = [];
  let code: string | undefined;
  let at = 0;
  for (const item of items) {
    const frame = frameOf(spec, framing, item, limit);
    parts.push(frame.wire);
    at += frame.wire.length;
    if (code !== undefined) continue;
    if ('code' in frame.outcome) code = frame.outcome.code;
    else {
      messages.push(frame.outcome.message);
      ends.push(at);
    }
  }
  return { wire: Buffer.concat(parts), messages, code, ends };
}

// ------------------------------------------------------------------ running the assembler

/** Chunk sizes used in turn to cut a stream: one byte at a time, small, or large pieces. */
const splitArb = fc.oneof(
  fc.constant([1]),
  fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 8 }),
  fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }),
);

interface Outcome {
  messages: Buffer[];
  errors: SockframeError[];
  deliveredAfterError: number;
  thrown: unknown;
  buffered: number;
  spun: boolean;
}

/** Wraps a framing so that every hook or scanner call is counted; past `budget` calls it throws. */
function counted(framing: Framing, state: { calls: number; budget: number; spun: boolean }): Framing {
  const tick = (): void => {
    if (++state.calls > state.budget) {
      state.spun = true;
      throw new Error('hook call budget exceeded');
    }
  };
  if ('createScanner' in framing) {
    const scan = framing;
    return {
      ...scan,
      createScanner() {
        const scanner = scan.createScanner();
        return {
          scan: (bytes: Buffer) => {
            tick();
            return scanner.scan(bytes);
          },
          reset: () => scanner.reset(),
        };
      },
    };
  }
  const hook = framing;
  const withAt = hook.messageLengthAt === undefined ? undefined : (hook as Required<LengthFraming>);
  return {
    ...hook,
    messageLength: (head: Buffer) => {
      tick();
      return hook.messageLength(head);
    },
    messageLengthAt:
      withAt === undefined
        ? undefined
        : (buffer: Buffer, offset: number) => {
            tick();
            return withAt.messageLengthAt(buffer, offset);
          },
  };
}

let pushes = 0;
let bytesPushed = 0;

function run(
  make: () => Framing,
  limit: number | undefined,
  wire: Buffer,
  split: readonly number[],
): Outcome {
  const chunks = Math.ceil(wire.length / Math.min(...split)) + 1;
  const state = { calls: 0, budget: 4 * wire.length + 2 * chunks + 64, spun: false };
  const messages: Buffer[] = [];
  const errors: SockframeError[] = [];
  let deliveredAfterError = 0;
  let thrown: unknown;
  let assembler: MessageAssembler | undefined;
  try {
    assembler = new MessageAssembler({
      framing: () => counted(make(), state),
      ...(limit === undefined ? {} : { maxMessageSize: limit }),
      onMessage: (message) => {
        if (errors.length > 0) deliveredAfterError++;
        messages.push(Buffer.from(message));
      },
      onError: (err) => errors.push(err),
    });
    let at = 0;
    for (let i = 0; at < wire.length; i++) {
      const size = split[i % split.length] as number;
      assembler.push(wire.subarray(at, at + size));
      at += size;
      pushes++;
    }
    bytesPushed += wire.length;
  } catch (err) {
    thrown = err;
  }
  return {
    messages,
    errors,
    deliveredAfterError,
    thrown,
    buffered: assembler?.bufferedBytes ?? -1,
    spun: state.spun,
  };
}

/** What every run must show, valid input or not. */
function expectWellBehaved(outcome: Outcome, limit: number | undefined): void {
  expect(outcome.thrown).toBeUndefined();
  expect(outcome.spun).toBe(false);
  expect(outcome.errors.length).toBeLessThanOrEqual(1);
  expect(outcome.deliveredAfterError).toBe(0);
  for (const err of outcome.errors) {
    expect(err).toBeInstanceOf(SockframeError);
    expect(FRAMING_CODES.has(err.code)).toBe(true);
  }
  const cap = limit ?? DEFAULT_LIMIT;
  for (const message of outcome.messages) expect(message.length).toBeLessThanOrEqual(cap);
}

function sameMessages(actual: Buffer[], expected: Buffer[]): boolean {
  return actual.length === expected.length && actual.every((m, i) => m.equals(expected[i] as Buffer));
}

const counts = { encoded: 0, encodedWithError: 0, truncated: 0, corrupted: 0, garbageHooks: 0, undecided: 0 };
const started = Date.now();

afterAll(() => {
  report('fuzz-assembler', { runs: counts, pushes, bytesPushed, seconds: (Date.now() - started) / 1000 });
});

// ------------------------------------------------------------------ properties

test('encoded streams yield exactly their messages, or the messages before exactly one typed error', () => {
  fc.assert(
    fc.property(
      specArb,
      fc.array(itemArb, { maxLength: 10 }),
      limitArb,
      splitArb,
      (spec, items, limit, split) => {
        const expected = expectedFor(spec, items, limit ?? DEFAULT_LIMIT);
        const outcome = run(() => makeFraming(spec), limit, expected.wire, split);
        expectWellBehaved(outcome, limit);
        expect(sameMessages(outcome.messages, expected.messages)).toBe(true);
        expect(outcome.errors.map((e) => e.code)).toEqual(expected.code === undefined ? [] : [expected.code]);
        if (expected.code === undefined) expect(outcome.buffered).toBe(0);
        counts.encoded++;
        if (expected.code !== undefined) counts.encodedWithError++;
      },
    ),
    { numRuns: 400 },
  );
});

test('a truncated stream yields the whole messages before the cut and keeps the rest pending', () => {
  fc.assert(
    fc.property(
      specArb,
      fc.array(itemArb, { minLength: 1, maxLength: 8 }),
      limitArb,
      splitArb,
      fc.double({ min: 0, max: 1, noNaN: true }),
      (spec, items, limit, split, where) => {
        const expected = expectedFor(spec, items, limit ?? DEFAULT_LIMIT);
        const validEnd = expected.ends[expected.ends.length - 1] ?? 0;
        // Cut inside the stretch of well-formed frames, so that the prefix holds no error.
        const cut = Math.floor(where * validEnd);
        const whole = expected.ends.filter((end) => end <= cut);
        const lastEnd = whole[whole.length - 1] ?? 0;
        const outcome = run(() => makeFraming(spec), limit, expected.wire.subarray(0, cut), split);
        expectWellBehaved(outcome, limit);
        expect(outcome.errors).toEqual([]);
        expect(sameMessages(outcome.messages, expected.messages.slice(0, whole.length))).toBe(true);
        expect(outcome.buffered).toBe(cut - lastEnd);
        counts.truncated++;
      },
    ),
    { numRuns: 200 },
  );
});

/** Ways to damage a stream: flip bytes, insert or delete some, or replace it with random bytes. */
const damageArb = fc.record({
  mode: fc.constantFrom('flip', 'insert', 'delete', 'random', 'tail'),
  places: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }),
});

function damage(wire: Buffer, how: { mode: string; places: number[]; bytes: Uint8Array }): Buffer {
  const bytes = Buffer.from(how.bytes);
  switch (how.mode) {
    case 'random':
      return bytes;
    case 'tail':
      return Buffer.concat([wire.subarray(0, Math.floor((how.places[0] as number) * wire.length)), bytes]);
    case 'flip': {
      const out = Buffer.from(wire);
      if (out.length === 0) return bytes;
      how.places.forEach((p, i) => {
        const at = Math.min(out.length - 1, Math.floor(p * out.length));
        out[at] = (out[at] as number) ^ ((bytes[i % bytes.length] as number) | 1);
      });
      return out;
    }
    case 'insert': {
      const at = Math.floor((how.places[0] as number) * wire.length);
      return Buffer.concat([wire.subarray(0, at), bytes, wire.subarray(at)]);
    }
    default: {
      const at = Math.floor((how.places[0] as number) * wire.length);
      const count = 1 + Math.floor((how.places[1] ?? 0.5) * 16);
      return Buffer.concat([wire.subarray(0, at), wire.subarray(at + count)]);
    }
  }
}

test('a corrupted or random stream gives the same messages and error however it is split', () => {
  fc.assert(
    fc.property(
      specArb,
      fc.array(itemArb, { maxLength: 8 }),
      limitArb,
      damageArb,
      splitArb,
      (spec, items, limit, how, split) => {
        const wire = damage(expectedFor(spec, items, limit ?? DEFAULT_LIMIT).wire, how);
        const whole = run(() => makeFraming(spec), limit, wire, [Math.max(1, wire.length)]);
        const pieces = run(() => makeFraming(spec), limit, wire, split);
        expectWellBehaved(whole, limit);
        expectWellBehaved(pieces, limit);
        expect(sameMessages(pieces.messages, whole.messages)).toBe(true);
        expect(pieces.errors.map((e) => e.code)).toEqual(whole.errors.map((e) => e.code));
        expect(pieces.buffered).toBe(whole.buffered);
        counts.corrupted++;
      },
    ),
    { numRuns: 400 },
  );
});

/**
 * A hook that answers anything a buggy hook might, decided by its first byte: small numbers
 * (often below the header), NaN, Infinity, objects with odd strips, throws, NEED_MORE, lengths
 * past any limit. Its answers need not even agree with each other from one call to the next.
 */
function garbageHook(seed: number): LengthFraming {
  const random = prng(seed);
  return {
    headerSize: 1 + (seed & 3),
    messageLength(head: Buffer): unknown {
      const b = head[0] as number;
      // Half of the answers are plausible lengths, so that streams get past their first frame.
      const pick = Math.floor(random() * 22);
      switch (pick) {
        case 0:
          return b;
        case 1:
          return NaN;
        case 2:
          return Infinity;
        case 3:
          return { length: b + 8, strip: head[1] ?? 0 };
        case 4:
          return { length: b, strip: -1 };
        case 5:
          throw new Error('hook failed');
        case 6:
          return head.length < b ? NEED_MORE : b;
        case 7:
          return 2 ** 60;
        case 8:
          return null;
        case 9:
          return { length: '12' };
        case 10:
          return b + 0.5;
        default:
          return head.length + (b & 7);
      }
    },
  } as unknown as LengthFraming;
}

test('a hook that answers garbage never makes push() throw, spin, or report more than one typed error', () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.uint8Array({ maxLength: 4000 }),
      limitArb,
      splitArb,
      (seed, bytes, limit, split) => {
        const outcome = run(() => garbageHook(seed), limit, Buffer.from(bytes), split);
        expectWellBehaved(outcome, limit);
        counts.garbageHooks++;
      },
    ),
    { numRuns: 300 },
  );
});

test('a hook that never decides is cut off at the limit, however the stream is split', () => {
  /** The memory behind each head the hook is shown: bytes already shown are not copied anew. */
  const backings = new Set<ArrayBufferLike>();
  const undecided: LengthFraming = {
    headerSize: 1,
    messageLength: (head) => {
      backings.add(head.buffer);
      return NEED_MORE;
    },
  };
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20_000 }),
      fc.integer({ min: 0, max: 40_000 }),
      splitArb,
      (limit, length, split) => {
        backings.clear();
        const outcome = run(() => undecided, limit, Buffer.alloc(length, 0x55), split);
        expectWellBehaved(outcome, limit);
        // Re-copying the whole head on every read would be quadratic: a new buffer per call.
        expect(backings.size).toBeLessThanOrEqual(64);
        expect(outcome.messages).toEqual([]);
        // A frame that needs more than `limit` bytes to be measured is larger than the limit.
        expect(outcome.errors.map((e) => e.code)).toEqual(length >= limit ? ['ERR_FRAME_TOO_LARGE'] : []);
        if (length < limit) expect(outcome.buffered).toBe(length);
        counts.undecided++;
      },
    ),
    { numRuns: 150 },
  );
});
