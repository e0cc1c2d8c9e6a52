import { FrameTooLargeError, lengthField, MessageAssembler, varint, type SockframeError } from 'sockframe';
import { encodeAll } from './helpers';
import { prng as random } from '../helpers/random';

describe('an onMessage that throws stops the assembler until reset()', () => {
  const payloads = Array.from({ length: 6 }, (_, i) => Buffer.from(`message ${i}`));

  test.each([
    ['lengthField()', lengthField()],
    ['varint()', varint()],
  ])('%s: the throw reaches push(), is recorded, and later pushes are ignored', (_name, framing) => {
    const delivered: string[] = [];
    const errors: SockframeError[] = [];
    const boom = new Error('listener bug');
    const assembler = new MessageAssembler({
      framing,
      onMessage: (message) => {
        delivered.push(message.toString());
        if (delivered.length === 2) throw boom;
      },
      onError: (err) => errors.push(err),
    });
    const wire = encodeAll(framing, payloads);
    expect(() => assembler.push(wire)).toThrow(boom);
    expect(assembler.error).toMatchObject({ code: 'ERR_LISTENER_THREW', cause: boom });
    // The rest of that chunk was never parsed: anything after it would be read from the wrong offset.
    assembler.push(wire);
    expect(delivered).toEqual(['message 0', 'message 1']);
    expect(errors).toEqual([]);
    assembler.reset();
    expect(assembler.error).toBeNull();
    assembler.push(wire);
    expect(delivered.slice(2)).toEqual(payloads.map(String));
  });

  test('however the stream is split, nothing after the throw is delivered or misparsed (seeded)', () => {
    const framing = lengthField();
    const wire = encodeAll(framing, payloads);
    for (let seed = 1; seed <= 200; seed++) {
      const next = random(seed);
      const throwAt = Math.floor(next() * payloads.length);
      const delivered: Buffer[] = [];
      const errors: SockframeError[] = [];
      const assembler = new MessageAssembler({
        framing,
        onMessage: (message) => {
          delivered.push(Buffer.from(message));
          if (delivered.length === throwAt + 1) throw new Error('listener bug');
        },
        onError: (err) => errors.push(err),
      });
      let thrown = 0;
      for (let offset = 0; offset < wire.length;) {
        const size = 1 + Math.floor(next() * 24);
        try {
          assembler.push(wire.subarray(offset, offset + size));
        } catch {
          thrown++;
        }
        offset += size;
      }
      const context = `seed ${seed}, throw at message ${throwAt}`;
      expect({ context, thrown, errors: errors.length }).toEqual({ context, thrown: 1, errors: 0 });
      expect({ context, delivered: delivered.map(String) }).toEqual({
        context,
        delivered: payloads.slice(0, throwAt + 1).map(String),
      });
    }
  });
});

describe('lengths past 2^53 are reported as Infinity', () => {
  function tooLarge(framing: Parameters<typeof encodeAll>[0], header: Buffer): FrameTooLargeError {
    const errors: SockframeError[] = [];
    const assembler = new MessageAssembler({ framing, onMessage: () => {}, onError: (e) => errors.push(e) });
    assembler.push(header);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    return errors[0] as FrameTooLargeError;
  }

  test('an 8-byte length field of 2^64 - 1', () => {
    const err = tooLarge(lengthField({ lengthSize: 8 }), Buffer.alloc(8, 0xff));
    expect(err.length).toBe(Infinity);
    expect(err.message).toMatch(/more than 2\^53/);
  });

  test('an 8-byte field just past 2^53 once its header is added', () => {
    const header = Buffer.alloc(8);
    header.writeBigUInt64BE(BigInt(Number.MAX_SAFE_INTEGER) - 2n);
    expect(tooLarge(lengthField({ lengthSize: 8 }), header).length).toBe(Infinity);
    header.writeBigUInt64BE(BigInt(Number.MAX_SAFE_INTEGER) - 8n);
    expect(tooLarge(lengthField({ lengthSize: 8 }), header).length).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('a 10-byte varint of 2^64 - 1', () => {
    const prefix = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(tooLarge(varint(), prefix).length).toBe(Infinity);
  });

  test('a 9-byte varint of 2^53 exactly is past the safe range too', () => {
    const bytes: number[] = [];
    let rest = 2n ** 53n;
    while (rest >= 0x80n) {
      bytes.push(Number(rest % 128n) | 0x80);
      rest /= 128n;
    }
    bytes.push(Number(rest));
    expect(tooLarge(varint(), Buffer.from(bytes)).length).toBe(Infinity);
  });
});
