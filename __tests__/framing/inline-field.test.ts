// The assembler reads the 4-byte field of a lengthField() framing itself instead of calling its
// hook. These tests hold that shortcut to the hook's own answers: the same framing given as a
// plain copy (which the assembler cannot recognise) must deliver and fail identically.
import fc from 'fast-check';
import { lengthField, type LengthFieldOptions } from '../../src/framing/length-field';
import type { LengthFraming } from '../../src/framing/framing';
import { fingerprints, pushCut, record } from './helpers';

function outcome(framing: LengthFraming, stream: Buffer, cuts: readonly number[], maxMessageSize: number) {
  const { assembler, messages, errors } = record({ framing, maxMessageSize });
  pushCut(assembler, stream, cuts);
  return {
    messages: fingerprints(messages),
    errors: errors.map((e) => `${e.code}: ${e.message}`),
    buffered: assembler.bufferedBytes,
  };
}

const layout = fc.record({
  lengthOffset: fc.integer({ min: 0, max: 3 }),
  lengthAdjustment: fc.integer({ min: -10, max: 6 }),
  endian: fc.constantFrom<'big' | 'little'>('big', 'little'),
  stripDelta: fc.integer({ min: -2, max: 3 }),
});

/** Well-formed frames, with now and then a field value picked to be odd (short, huge, random). */
function streamFor(options: LengthFieldOptions & { lengthOffset: number; lengthAdjustment: number }) {
  const headerSize = options.lengthOffset + 4;
  const frame = fc
    .tuple(
      fc.uint8Array({ maxLength: 200 }),
      fc.oneof(
        { weight: 8, arbitrary: fc.constant<number | undefined>(undefined) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 12 }) },
      ),
    )
    .map(([payload, oddValue]) => {
      const header = Buffer.alloc(headerSize, 0x77);
      const value = oddValue ?? Math.max(0, payload.length - options.lengthAdjustment);
      if (options.endian === 'little') header.writeUInt32LE(value, options.lengthOffset);
      else header.writeUInt32BE(value, options.lengthOffset);
      return Buffer.concat([header, Buffer.from(payload)]);
    });
  return fc.array(frame, { maxLength: 12 }).map((frames) => Buffer.concat(frames));
}

describe('the inline 4-byte length field', () => {
  it('delivers and fails exactly as the hook does, for any layout and any split', () => {
    fc.assert(
      fc.property(
        layout.chain((l) => {
          const options = {
            lengthOffset: l.lengthOffset,
            lengthAdjustment: l.lengthAdjustment,
            endian: l.endian,
            strip: Math.max(0, l.lengthOffset + 4 + l.stripDelta),
          };
          return fc.tuple(
            fc.constant(options),
            streamFor(options).chain((stream) =>
              fc.tuple(
                fc.constant(stream),
                fc.uniqueArray(fc.integer({ min: 0, max: stream.length }), { maxLength: 8 }),
              ),
            ),
            fc.constantFrom(64, 1024, 16 * 1024 * 1024),
          );
        }),
        ([options, [stream, cuts], limit]) => {
          const sorted = [...cuts].sort((a, b) => a - b);
          const inlined = lengthField(options);
          const viaHook: LengthFraming = { ...inlined };
          expect(outcome(inlined, stream, sorted, limit)).toEqual(outcome(viaHook, stream, sorted, limit));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('refuses 0xFFFFFFFF and a field shorter than the header with the hook path errors', () => {
    const huge = record({ framing: lengthField(), maxMessageSize: 1024 });
    huge.assembler.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]));
    expect(huge.errors.map((e) => e.code)).toEqual(['ERR_FRAME_TOO_LARGE']);

    const short = record({ framing: lengthField({ lengthAdjustment: -8 }) });
    short.assembler.push(Buffer.from([0, 0, 0, 2, 1, 2]));
    expect(short.errors.map((e) => e.code)).toEqual(['ERR_INVALID_FRAME_LENGTH']);
    expect(short.messages).toEqual([]);
  });

  it('is only taken for an untouched lengthField() framing, which is frozen', () => {
    const framing = lengthField();
    expect(Object.isFrozen(framing)).toBe(true);
    // A framing derived from it with its own hook is asked, not bypassed.
    const asked: number[] = [];
    const custom: LengthFraming = {
      ...framing,
      messageLength: (head) => {
        asked.push(head.length);
        return head.readUInt32BE(0) + 4;
      },
      messageLengthAt: undefined,
    };
    const { assembler, messages } = record({ framing: custom });
    assembler.push(Buffer.from([0, 0, 0, 1, 0x61, 0, 0, 0, 1, 0x62]));
    expect(messages.map((m) => m.toString())).toEqual(['a', 'b']);
    expect(asked.length).toBe(2);
  });
});
