import fc from 'fast-check';
import { delimited } from '../../src/framing/delimiter';
import { fixedSize } from '../../src/framing/fixed';
import type { Framing, LengthFraming } from '../../src/framing/framing';
import { lengthField } from '../../src/framing/length-field';
import { varint } from '../../src/framing/varint';
import { encodeAll, fingerprints, netstring, pseudoRandomBytes, record } from './helpers';

const KiB = 1024;
const MAX_PAYLOAD = 256 * KiB;

interface Case {
  readonly name: string;
  /** A fresh framing: scanning framings keep per-stream state. */
  readonly framing: () => Framing;
  /** Turns a generated payload into one this framing can carry. */
  readonly fit: (payload: Buffer) => Buffer;
  /** What the assembler delivers for a payload, given the bytes encode put on the wire for it. */
  readonly delivered: (payload: Buffer, wire: Buffer) => Buffer;
  /** Every message is large whatever the payload size: too slow to push one byte at a time. */
  readonly large?: boolean;
}

const asIs = (payload: Buffer): Buffer => payload;
const payloadOnly = (payload: Buffer): Buffer => payload;

/** Keeps at most `max` bytes. */
const atMost =
  (max: number) =>
  (payload: Buffer): Buffer =>
    payload.length > max ? payload.subarray(0, max) : payload;

/** At least `min` bytes (padded with 0x5a) and at most `max`. */
const between =
  (min: number, max: number) =>
  (payload: Buffer): Buffer => {
    if (payload.length >= min) return atMost(max)(payload);
    const out = Buffer.alloc(min, 0x5a);
    payload.copy(out);
    return out;
  };

/** Exactly `size` bytes: cut, or padded with bytes from the payload's own start. */
const exactly =
  (size: number) =>
  (payload: Buffer): Buffer => {
    if (payload.length >= size) return payload.subarray(0, size);
    const out = Buffer.alloc(size, 0x5a);
    payload.copy(out);
    return out;
  };

/**
 * A payload the delimiter framing can send: many of its bytes are turned into delimiter bytes
 * (so partial delimiters are common), then each whole delimiter is broken by a byte that is not in
 * it, and so is a last byte that would form a delimiter with the one sent after it.
 */
function forDelimiter(delimiter: string | Uint8Array) {
  const d = delimited({ delimiter }).delimiter;
  const framing = delimited({ delimiter });
  const pool = [...d, 0x78];
  let filler = 0x78;
  while (d.includes(filler)) filler++;
  return (payload: Buffer): Buffer => {
    const out = Buffer.from(payload);
    for (let i = 0; i < out.length; i++) {
      const byte = out[i] as number;
      if (byte & 1) out[i] = pool[(byte >> 1) % pool.length] as number;
    }
    for (let at = out.indexOf(d); at >= 0; at = out.indexOf(d, at + 1)) out[at + d.length - 1] = filler;
    try {
      framing.encode(out);
    } catch {
      out[out.length - 1] = filler;
    }
    return out;
  };
}

/** The gosof way: a u32 little-endian length of the whole message, header included, delivered whole. */
function gosof(): LengthFraming & { encode(payload: Buffer): Buffer[] } {
  return {
    headerSize: 4,
    messageLength: (head) => head.readUInt32LE(0),
    encode(payload) {
      const header = Buffer.alloc(4);
      header.writeUInt32LE(4 + payload.length);
      return [header, payload];
    },
  };
}

const stripped = (strip: number) => (_payload: Buffer, wire: Buffer) => wire.subarray(strip);

const CASES: Case[] = [
  { name: 'lengthField()', framing: () => lengthField(), fit: asIs, delivered: payloadOnly },
  {
    name: 'lengthField little-endian',
    framing: () => lengthField({ endian: 'little' }),
    fit: asIs,
    delivered: payloadOnly,
  },
  {
    name: 'lengthField lengthSize 1',
    framing: () => lengthField({ lengthSize: 1 }),
    fit: atMost(255),
    delivered: payloadOnly,
  },
  {
    name: 'lengthField lengthSize 2 little-endian',
    framing: () => lengthField({ lengthSize: 2, endian: 'little' }),
    fit: atMost(65_535),
    delivered: payloadOnly,
  },
  {
    name: 'lengthField lengthSize 8 little-endian',
    framing: () => lengthField({ lengthSize: 8, endian: 'little' }),
    fit: asIs,
    delivered: payloadOnly,
  },
  {
    // The field counts the whole frame, offset bytes and itself included; nothing is stripped, so
    // each message carries its own 4 header bytes and send() rewrites the length field in them.
    name: 'lengthField offset 2, whole-frame length, strip 0',
    framing: () => lengthField({ lengthOffset: 2, lengthSize: 2, lengthAdjustment: -4, strip: 0 }),
    fit: between(4, 65_535),
    delivered: (payload, wire) => {
      expect(wire.subarray(0, 2)).toEqual(payload.subarray(0, 2));
      expect(wire.subarray(4)).toEqual(payload.subarray(4));
      return wire;
    },
  },
  {
    name: 'lengthField offset 1, 3-byte little-endian, strip 1',
    framing: () => lengthField({ lengthOffset: 1, lengthSize: 3, endian: 'little', strip: 1 }),
    fit: between(3, Infinity),
    delivered: stripped(1),
  },
  {
    name: 'lengthField offset 2, magic from a header function, strip 3 past the field',
    framing: () =>
      lengthField({
        lengthOffset: 2,
        lengthSize: 1,
        lengthAdjustment: 1,
        strip: 4,
        header: (message) => Buffer.from([0xca, 0xfe, 0, message.length & 0xff]),
      }),
    fit: atMost(254),
    delivered: payloadOnly,
  },
  { name: 'varint()', framing: () => varint(), fit: asIs, delivered: payloadOnly },
  { name: 'delimited()', framing: () => delimited(), fit: forDelimiter('\n'), delivered: payloadOnly },
  {
    name: 'delimited CRLF',
    framing: () => delimited({ delimiter: '\r\n' }),
    fit: forDelimiter('\r\n'),
    delivered: payloadOnly,
  },
  {
    name: 'delimited CRLFCRLF',
    framing: () => delimited({ delimiter: '\r\n\r\n' }),
    fit: forDelimiter('\r\n\r\n'),
    delivered: payloadOnly,
  },
  {
    name: 'delimited 00 00 00',
    framing: () => delimited({ delimiter: new Uint8Array(3) }),
    fit: forDelimiter(new Uint8Array(3)),
    delivered: payloadOnly,
  },
  { name: 'fixedSize(1)', framing: () => fixedSize(1), fit: exactly(1), delivered: payloadOnly },
  { name: 'fixedSize(7)', framing: () => fixedSize(7), fit: exactly(7), delivered: payloadOnly },
  {
    name: 'fixedSize(3001)',
    framing: () => fixedSize(3001),
    fit: exactly(3001),
    delivered: payloadOnly,
  },
  {
    name: 'fixedSize(65539)',
    framing: () => fixedSize(65_539),
    fit: exactly(65_539),
    delivered: payloadOnly,
    large: true,
  },
  { name: 'a gosof-style hook, header included', framing: gosof, fit: asIs, delivered: stripped(0) },
  { name: 'a NEED_MORE hook (netstring)', framing: netstring, fit: asIs, delivered: payloadOnly },
];

/** Payload sizes from 0 B to 256 KiB, mostly small so that each run stays quick. */
const payloadSpec = fc.record({
  size: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 * KiB }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX_PAYLOAD }) },
    { weight: 1, arbitrary: fc.constantFrom(0, MAX_PAYLOAD) },
  ),
  seed: fc.integer(),
});

/** Small payloads, for streams pushed one byte at a time. */
const smallPayloadSpec = fc.record({ size: fc.integer({ min: 0, max: 2 * KiB }), seed: fc.integer() });

type Split =
  | { readonly kind: 'bytes' }
  | { readonly kind: 'cycle'; readonly sizes: number[] }
  | { readonly kind: 'cuts'; readonly points: number[] };

const ONE_BYTE_AT_A_TIME: Split = { kind: 'bytes' };

/** How the stream is cut: a cycle of chunk sizes from 1 byte up, or cuts anywhere. */
const splitSpec: fc.Arbitrary<Split> = fc.oneof(
  fc.record({
    kind: fc.constant('cycle' as const),
    sizes: fc.array(
      fc.oneof(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 * KiB }),
        fc.integer({ min: 1, max: 2 * MAX_PAYLOAD }),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  }),
  fc.record({
    kind: fc.constant('cuts' as const),
    points: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
  }),
);

/** The chunks a split makes of the stream: views, in order, covering it exactly. */
function chunksOf(stream: Buffer, split: Split): Buffer[] {
  const chunks: Buffer[] = [];
  if (split.kind === 'bytes') {
    for (let at = 0; at < stream.length; at++) chunks.push(stream.subarray(at, at + 1));
  } else if (split.kind === 'cycle') {
    for (let at = 0, i = 0; at < stream.length; i++) {
      const size = split.sizes[i % split.sizes.length] as number;
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
  } else {
    const cuts = split.points.map((p) => Math.floor(p * stream.length)).sort((a, b) => a - b);
    let from = 0;
    for (const cut of cuts) {
      chunks.push(stream.subarray(from, cut)); // empty chunks included on purpose
      from = cut;
    }
    chunks.push(stream.subarray(from));
  }
  return chunks;
}

/** Encodes the payloads, pushes the stream cut as `split` says, and checks what comes out. */
function roundTrip(
  { framing, fit, delivered }: Case,
  specs: readonly { size: number; seed: number }[],
  split: Split,
) {
  const encoder = framing();
  const payloads = specs.map(({ size, seed }) => fit(pseudoRandomBytes(size, seed)));
  const wires = payloads.map((payload) => encodeAll(encoder, [payload]));
  const expected = payloads.map((payload, i) => delivered(payload, wires[i] as Buffer));
  const stream = Buffer.concat(wires);

  const { assembler, messages, errors } = record({ framing: framing() });
  let pushed = 0;
  for (const chunk of chunksOf(stream, split)) {
    assembler.push(chunk);
    pushed += chunk.length;
  }

  expect(pushed).toBe(stream.length);
  expect(errors).toEqual([]);
  expect(fingerprints(messages)).toEqual(fingerprints(expected));
  expect(assembler.bufferedBytes).toBe(0);
  expect(assembler.messageCount).toBe(payloads.length);
}

describe('every framing yields exactly the messages sent, in order, byte for byte', () => {
  test.each(CASES)('$name: messages of 0 B to 256 KiB, split anywhere', (testCase) => {
    fc.assert(
      fc.property(fc.array(payloadSpec, { maxLength: 6 }), splitSpec, (specs, split) =>
        roundTrip(testCase, specs, split),
      ),
      { numRuns: 12 },
    );
  });

  test.each(CASES.filter((c) => c.large !== true))('$name: pushed one byte at a time', (testCase) => {
    fc.assert(
      fc.property(fc.array(smallPayloadSpec, { maxLength: 10 }), (specs) =>
        roundTrip(testCase, specs, ONE_BYTE_AT_A_TIME),
      ),
      { numRuns: 12 },
    );
  });
});

describe('the generators reach what the property claims', () => {
  test('payloads span 0 B to 256 KiB and cycles include 1-byte chunks', () => {
    const sizes = fc.sample(payloadSpec, { numRuns: 2000, seed: 1 }).map((s) => s.size);
    expect(Math.min(...sizes)).toBe(0);
    expect(Math.max(...sizes)).toBe(MAX_PAYLOAD);
    const splits = fc.sample(splitSpec, { numRuns: 200, seed: 1 });
    expect(new Set(splits.map((s) => s.kind))).toEqual(new Set(['cuts', 'cycle']));
    expect(splits.some((s) => s.kind === 'cycle' && s.sizes.includes(1))).toBe(true);
  });

  test('delimiter payloads are full of partial delimiters yet never refused by encode', () => {
    for (const delimiter of ['\n', '\r\n', '\r\n\r\n', new Uint8Array(3)]) {
      const fit = forDelimiter(delimiter);
      const framing = delimited({ delimiter });
      const almost = framing.delimiter.subarray(0, Math.max(1, framing.delimiter.length - 1));
      let withPartial = 0;
      for (let seed = 1; seed <= 50; seed++) {
        const payload = fit(pseudoRandomBytes(seed * 37, seed));
        expect(() => framing.encode(payload)).not.toThrow();
        if (payload.includes(almost)) withPartial++;
      }
      if (framing.delimiter.length > 1) expect(withPartial).toBeGreaterThan(25);
      else expect(withPartial).toBe(0);
    }
  });
});
