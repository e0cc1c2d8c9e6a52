/**
 * What an incomplete message costs: variable-length headers that the hook cannot decide yet
 * (NEED_MORE), and messages trickling in a byte at a time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DEFAULT_MAX_HEADER_BYTES, MessageAssembler } from '../../src/framing/assembler';
import { NEED_MORE, type LengthFraming } from '../../src/framing/framing';
import { lengthField } from '../../src/framing/length-field';
import { varint } from '../../src/framing/varint';
import { record } from './helpers';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Pushes `bytes` in pieces of `size`. */
function pushIn(assembler: MessageAssembler, bytes: Buffer, size: number): void {
  for (let at = 0; at < bytes.length; at += size) assembler.push(bytes.subarray(at, at + size));
}

/**
 * A text header ended by an empty line ("len: N\r\n\r\n"), body after it. It searches only the
 * bytes it has not searched before (from `seen`, less the terminator's length), and counts the
 * bytes it looks at.
 */
function textHeader(counter: { scanned: number; calls: number }): LengthFraming {
  const end = Buffer.from('\r\n\r\n');
  return {
    headerSize: 1,
    messageLength(head: Buffer, seen = 0): number | typeof NEED_MORE {
      counter.calls++;
      const from = Math.max(0, seen - (end.length - 1));
      counter.scanned += head.length - from;
      const at = head.indexOf(end, from);
      if (at < 0) return NEED_MORE;
      const match = /len: (\d+)/.exec(head.subarray(0, at).toString('latin1'));
      return at + end.length + Number(match?.[1] ?? 0);
    },
  };
}

describe('a header the hook cannot decide yet', () => {
  test('is refused with ERR_INVALID_FRAME_LENGTH once it passes 64 KiB, however it is split', () => {
    const never: LengthFraming = { headerSize: 1, messageLength: () => NEED_MORE };
    const bytes = Buffer.alloc(DEFAULT_MAX_HEADER_BYTES + 10, 0x41);
    for (const size of [bytes.length, 65_536, 1000, 7, 1]) {
      let shownMost = 0;
      const { assembler, errors } = record({
        framing: {
          ...never,
          messageLength: (head) => ((shownMost = Math.max(shownMost, head.length)), NEED_MORE),
        },
      });
      pushIn(assembler, bytes.subarray(0, DEFAULT_MAX_HEADER_BYTES - 1), size);
      expect(errors).toEqual([]);
      pushIn(assembler, bytes.subarray(DEFAULT_MAX_HEADER_BYTES - 1), size);
      expect(errors.map((e) => e.code)).toEqual(['ERR_INVALID_FRAME_LENGTH']);
      expect(shownMost).toBe(DEFAULT_MAX_HEADER_BYTES);
      expect(assembler.bufferedBytes).toBe(0);
    }
  });

  test('maxHeaderBytes sets that limit', () => {
    const { assembler, errors } = record({
      framing: { headerSize: 1, messageLength: () => NEED_MORE },
      maxHeaderBytes: 100,
    });
    pushIn(assembler, Buffer.alloc(99), 1);
    expect(errors).toEqual([]);
    // Shown its 100 bytes, the hook still cannot decide: there is nothing more it may see.
    assembler.push(Buffer.alloc(1));
    expect(errors.map((e) => e.code)).toEqual(['ERR_INVALID_FRAME_LENGTH']);
    expect(() => record({ maxHeaderBytes: 0 })).toThrow(TypeError);
  });

  test('a hook that resumes from `seen` looks at each byte a bounded number of times', () => {
    const header = Buffer.from(`len: 5\r\nx-pad: ${'p'.repeat(60_000)}\r\n\r\n`);
    const message = Buffer.concat([header, Buffer.from('hello')]);
    for (const size of [1, 3, 1000]) {
      const counter = { scanned: 0, calls: 0 };
      const { assembler, messages, errors } = record({ framing: textHeader(counter) });
      pushIn(assembler, message, size);
      expect(errors).toEqual([]);
      expect(messages.map((m) => m.subarray(header.length).toString())).toEqual(['hello']);
      // Linear: every byte is scanned about once (plus the terminator's overlap on each call).
      expect(counter.scanned).toBeLessThanOrEqual(2 * message.length + 4 * counter.calls);
    }
  });

  test('the same bytes give the same error in one push and one byte at a time', () => {
    // A varint that never ends, under limits below, at and above its 10 bytes.
    const endless = Buffer.alloc(12, 0x80);
    for (const maxMessageSize of [5, 10, 11, 12, 64]) {
      const whole = record({ framing: varint(), maxMessageSize });
      whole.assembler.push(endless);
      const bytewise = record({ framing: varint(), maxMessageSize });
      pushIn(bytewise.assembler, endless, 1);
      expect(bytewise.errors.map((e) => e.code)).toEqual(whole.errors.map((e) => e.code));
      expect(whole.errors).toHaveLength(1);
    }
  });
});

describe('a message arriving a byte at a time', () => {
  test('costs memory in proportion to its bytes, not to the number of reads', () => {
    const held: MessageAssembler[] = [];
    const bytes = 100_000;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1_000_000);
    gc();
    const before = process.memoryUsage();
    for (let i = 0; i < 4; i++) {
      const { assembler } = record({ framing: lengthField() });
      assembler.push(header);
      // Each piece is a buffer of its own, as socket reads are.
      for (let p = 0; p < bytes / 4; p++) assembler.push(Buffer.alloc(1, 0x61));
      held.push(assembler);
    }
    gc();
    const after = process.memoryUsage();
    const grown = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
    expect(held.reduce((n, a) => n + a.bufferedBytes, 0)).toBe(bytes + 16);
    // Held one Buffer per read, this is over 100 bytes per byte.
    expect(grown).toBeLessThan(4 * bytes);
  });

  test('is delivered whole and in order whatever mix of tiny and large pieces it came in', () => {
    const framing = varint();
    const payloads = [300_000, 5, 70_000, 0, 2000].map((n, i) => Buffer.alloc(n, 97 + i));
    const wire = Buffer.concat(
      payloads.flatMap((p) => {
        const encoded = framing.encode(p);
        return Buffer.isBuffer(encoded) ? [encoded] : [...encoded];
      }),
    );
    let x = 12345;
    const { assembler, messages, errors } = record({ framing });
    for (let at = 0; at < wire.length;) {
      x = (x * 1103515245 + 12345) >>> 0;
      const size = x % 7 === 0 ? 1 + (x % 5000) : 1 + (x % 3);
      assembler.push(Buffer.from(wire.subarray(at, at + size)));
      at += size;
    }
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.equals(payloads[messages.indexOf(m)] as Buffer))).toEqual(
      payloads.map(() => true),
    );
  });
});
