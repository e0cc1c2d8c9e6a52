import { Buffer } from 'node:buffer';
import type { Framing } from 'sockframe';
import { checkStream, type FaultKind } from './check';
import { BROADCAST, FORMATS, payloadOf, type Message, type WireFormat } from './wire';

// The checker of the model suite, on streams built by hand: it must name each kind of fault.

const RUN = 12345;
const format = FORMATS['length-default']();
const own = (seq: number, size = 40): Message => ({ tag: 0, seq, size });
const expected = [own(0), own(1, 0), { tag: BROADCAST, seq: 0, size: 3000 }, own(2, 17_000), own(3)];
const wire = (messages: readonly Message[], f: WireFormat = format): Buffer =>
  Buffer.concat(messages.map((m) => f.encode(payloadOf(RUN, m, f.avoid))));

function kindOf(stream: Buffer, mode: 'all' | 'prefix' = 'all'): FaultKind | undefined {
  return checkStream(format, RUN, 0, expected, stream, mode)?.kind;
}

const at = (i: number): Message => expected[i] as Message;

test('the stream of every message, in order, passes; so does a cut-off prefix after destroy()', () => {
  const whole = wire(expected);
  expect(kindOf(whole)).toBeUndefined();
  expect(kindOf(Buffer.alloc(0), 'prefix')).toBeUndefined();
  expect(kindOf(whole.subarray(0, 100), 'prefix')).toBeUndefined();
  expect(kindOf(whole.subarray(0, whole.length - 1), 'prefix')).toBeUndefined();
});

test('each kind of fault is named, with where it is', () => {
  expect(kindOf(wire([at(0), at(1), at(3), at(4)]))).toBe('loss');
  expect(kindOf(wire([at(0), at(0), at(1), at(2), at(3), at(4)]))).toBe('duplicate');
  expect(kindOf(wire([at(0), at(1), at(3), at(2), at(4)]))).toBe('reorder');
  // Too short to carry an identity: only its bytes tell it apart.
  expect(kindOf(wire([at(0), { tag: 7, seq: 1, size: 5 }, at(2), at(3), at(4)]))).toBe('corrupt');
  expect(kindOf(wire([at(0), at(1), at(2), { tag: 7, seq: 2, size: 17_000 }, at(4)]))).toBe(
    'wrong-connection',
  );
  expect(kindOf(wire([...expected, own(4)]))).toBe('extra');
  expect(kindOf(wire(expected.slice(0, 3)))).toBe('loss');
  const whole = wire(expected);
  expect(kindOf(whole.subarray(0, whole.length - 1))).toBe('truncated');

  const corrupted = Buffer.from(whole);
  const offset = wire(expected.slice(0, 3)).length + 4 + 5000;
  corrupted[offset] = (corrupted[offset] as number) ^ 1;
  const fault = checkStream(format, RUN, 0, expected, corrupted, 'all');
  expect(fault).toMatchObject({ kind: 'corrupt', index: 3, frameOffset: 4 + 5000 });
  // A destroyed connection gets a prefix, not a damaged one.
  expect(kindOf(corrupted.subarray(0, offset + 10), 'prefix')).toBe('corrupt');

  const badHeader = Buffer.from(whole);
  badHeader.writeUInt32BE(0x7fffffff, wire(expected.slice(0, 2)).length);
  expect(kindOf(badHeader)).toBe('bad-header');
});

test('the test codec of each format writes what the library framing writes, and reads it back', () => {
  const formats: WireFormat[] = [
    ...(
      [
        'length-default',
        'length-u16le',
        'length-offset',
        'length-u64',
        'varint',
        'delimited-lf',
        'delimited-crlf',
        'custom',
        'custom-factory',
      ] as const
    ).map((key) => FORMATS[key]()),
    FORMATS.fixed(1000),
  ];
  for (const f of formats) {
    const option = f.framing();
    const framing: Framing = typeof option === 'function' ? option() : option;
    const sizes =
      f.fixed !== undefined
        ? [f.fixed, f.fixed]
        : [0, 1, 18, 300, 20_000, 70_000].filter((s) => s <= f.maxPayload);
    const messages = sizes.map((size, seq) => ({ tag: 3, seq, size }));
    for (const m of messages) {
      const payload = payloadOf(RUN, m, f.avoid);
      for (const b of f.avoid) expect(payload.includes(b)).toBe(false);
      const encoded = (framing.encode as (p: Buffer) => Buffer | readonly Buffer[])(payload);
      const bytes = Buffer.concat(Buffer.isBuffer(encoded) ? [encoded] : encoded);
      expect({ format: f.name, size: m.size, same: bytes.equals(f.encode(payload)) }).toEqual({
        format: f.name,
        size: m.size,
        same: true,
      });
    }
    expect(checkStream(f, RUN, 3, messages, wire(messages, f), 'all')).toBeUndefined();
  }
});
