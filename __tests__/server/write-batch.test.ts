import fc from 'fast-check';
import { lengthField, varint } from 'sockframe';
import { COPY_LIMIT, SlabArena, WriteBatch, type BatchSink, type HeaderFraming } from '../../src/write-batch';
import { frame } from '../helpers/net';

const framing = lengthField() as unknown as HeaderFraming;

/** An arena grown to its full slab size, with written-out slabs on its free list. */
function warmArena(): SlabArena {
  const arena = new SlabArena();
  const warm = new WriteBatch(arena);
  for (let i = 0; i < 300; i++) {
    warm.frame(framing, Buffer.alloc(1000));
    if (i % 8 === 7) warm.writeTo(recordingSink(false));
  }
  warm.writeTo(recordingSink(false));
  return arena;
}

/**
 * A sink that records its calls. A holding sink behaves like a socket that has not written
 * anything yet: it keeps the very buffers it was given (with a copy of each taken at the time, so
 * a later overwrite of one it still holds is seen) and reports them as pending. A passing sink
 * behaves like a socket whose kernel took everything at once: it copies and reports nothing
 * pending, after which the batch may reuse the space.
 */
function recordingSink(holds = true): BatchSink & {
  calls: (Buffer | 'cork' | 'uncork')[];
  written(): Buffer;
  overwritten(): number;
} {
  const calls: (Buffer | 'cork' | 'uncork')[] = [];
  const held: { view: Buffer; copy: Buffer }[] = [];
  const copies: Buffer[] = [];
  return {
    calls,
    get writableLength() {
      return holds ? held.reduce((n, h) => n + h.view.length, 0) : 0;
    },
    write: (chunk: Buffer, callback?: (err?: Error | null) => void) => {
      calls.push(holds ? chunk : Buffer.from(chunk));
      copies.push(Buffer.from(chunk));
      if (holds) held.push({ view: chunk, copy: Buffer.from(chunk) });
      if (callback) process.nextTick(callback);
      return true;
    },
    cork: () => void calls.push('cork'),
    uncork: () => void calls.push('uncork'),
    written: () => Buffer.concat(copies),
    overwritten: () => held.filter((h) => !h.view.equals(h.copy)).length,
  };
}

describe('WriteBatch', () => {
  test("a tick's small frames lie in one region, written in one write", () => {
    const batch = new WriteBatch(new SlabArena());
    batch.frame(framing, Buffer.from('one'));
    batch.frame(framing, Buffer.from('two'));
    batch.append(Buffer.from('raw'));
    expect(batch.bytes).toBe(7 + 7 + 3);
    const sink = recordingSink();
    batch.writeTo(sink);
    expect(sink.calls).toEqual([Buffer.concat([frame('one'), frame('two'), Buffer.from('raw')])]);
    expect(batch.bytes).toBe(0);
    // Nothing is written twice.
    const again = recordingSink();
    batch.frame(framing, Buffer.from('next'));
    batch.writeTo(again);
    expect(again.calls).toEqual([frame('next')]);
  });

  test('a big payload is queued by reference, so the batch is written as a corked run, in order', () => {
    const batch = new WriteBatch(new SlabArena());
    const big = Buffer.alloc(COPY_LIMIT, 0x62);
    batch.frame(framing, Buffer.from('small'));
    batch.frame(framing, big);
    batch.frame(framing, Buffer.from('after'));
    expect(batch.bytes).toBe(9 + 4 + COPY_LIMIT + 9);
    const sink = recordingSink();
    batch.writeTo(sink);
    expect(sink.calls[0]).toBe('cork');
    expect(sink.calls.at(-1)).toBe('uncork');
    const parts = sink.calls.slice(1, -1) as Buffer[];
    expect(Buffer.concat(parts)).toEqual(Buffer.concat([frame('small'), frame(big), frame('after')]));
    // The payload itself was not copied.
    expect(parts).toContain(big);
    expect(batch.bytes).toBe(0);
  });

  test('a region is not shared between two batches writing in turn', () => {
    const arena = new SlabArena();
    const a = new WriteBatch(arena);
    const b = new WriteBatch(arena);
    a.frame(framing, Buffer.from('a1'));
    b.frame(framing, Buffer.from('b1'));
    a.frame(framing, Buffer.from('a2'));
    // a's second frame could not extend its region (b wrote after it): a holds two parts, which
    // are small, so they leave joined in one write.
    const sinkA = recordingSink();
    a.writeTo(sinkA);
    expect(sinkA.calls).toEqual([Buffer.concat([frame('a1'), frame('a2')])]);
    const sinkB = recordingSink();
    b.writeTo(sinkB);
    expect(sinkB.calls).toEqual([frame('b1')]);
  });

  test('open regions of other batches survive the arena moving on to new slabs', () => {
    const arena = warmArena();
    const a = new WriteBatch(arena);
    const b = new WriteBatch(arena);
    a.frame(framing, Buffer.from('kept by a'));
    b.frame(framing, Buffer.from('kept by b'));
    // A third batch fills several slabs, written out and passed on each time (so those slabs
    // could be reused), while a and b still hold their open regions.
    const c = new WriteBatch(arena);
    const filler = Buffer.alloc(1000, 0x7a);
    for (let i = 0; i < 400; i++) {
      c.frame(framing, filler);
      if (i % 10 === 9) c.writeTo(recordingSink(false));
    }
    const sinkA = recordingSink();
    a.writeTo(sinkA);
    const sinkB = recordingSink();
    b.writeTo(sinkB);
    expect(sinkA.written()).toEqual(frame('kept by a'));
    expect(sinkB.written()).toEqual(frame('kept by b'));
  });

  test('a header writer that claims more than maxHeaderSize is a RangeError and queues nothing', () => {
    const liar = { ...framing, maxHeaderSize: 2 } as HeaderFraming;
    const batch = new WriteBatch(new SlabArena());
    batch.frame(framing, Buffer.from('before'));
    expect(() => batch.frame(liar, Buffer.from('x'))).toThrow(RangeError);
    expect(batch.bytes).toBe(10);
    const sink = recordingSink();
    batch.writeTo(sink);
    expect(sink.written()).toEqual(frame('before'));
  });

  test('the last write carries the callback, after everything before it', async () => {
    const batch = new WriteBatch(new SlabArena());
    batch.frame(framing, Buffer.from('a'));
    batch.append(Buffer.alloc(COPY_LIMIT));
    const sink = recordingSink();
    let called = 0;
    batch.writeTo(sink, () => called++);
    expect(called).toBe(0);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(called).toBe(1);
  });

  /**
   * Many batches on one arena, in any interleaving of frames, raw chunks, flushes and drops,
   * with sinks that keep every buffer they were given: each sink receives exactly its own bytes,
   * and no byte a sink still holds is ever changed afterwards.
   */
  test('model: any interleaving of batches on one arena, over holding and passing sockets, keeps every stream its own', () => {
    const varintFraming = varint() as unknown as HeaderFraming;
    const op = fc.record({
      // Batch 7 is rarely picked, so its open region sits while the others fill several slabs.
      batch: fc.oneof(
        { weight: 30, arbitrary: fc.nat({ max: 6 }) },
        { weight: 1, arbitrary: fc.constant(7) },
      ),
      kind: fc.constantFrom('frame', 'varint', 'append', 'flush', 'clear'),
      size: fc.oneof(
        fc.constant(0),
        fc.nat({ max: 40 }),
        fc.integer({ min: 900, max: 1100 }),
        fc.integer({ min: 8000, max: COPY_LIMIT - 1 }),
        fc.integer({ min: COPY_LIMIT - 8, max: COPY_LIMIT + 8 }),
        fc.integer({ min: 60 * 1024, max: 70 * 1024 }),
      ),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 400 }), (ops) => {
        const arena = warmArena();
        const batches = Array.from({ length: 8 }, () => new WriteBatch(arena));
        // One connection's socket holds what it is given; the others pass it on, so slabs are
        // written out and reused while other batches still fill their regions.
        const sinks = batches.map((_, i) => recordingSink(i === 0));
        const expected: Buffer[][] = batches.map(() => []);
        const queued: Buffer[][] = batches.map(() => []);
        let serial = 0;
        for (const { batch: i, kind, size } of ops) {
          const batch = batches[i] as WriteBatch;
          if (kind === 'flush') {
            if (batch.bytes > 0) batch.writeTo(sinks[i] as BatchSink);
            (expected[i] as Buffer[]).push(...(queued[i] as Buffer[]));
            queued[i] = [];
          } else if (kind === 'clear') {
            batch.clear();
            queued[i] = [];
          } else {
            const payload = Buffer.alloc(size, (serial++ % 250) + 1);
            if (size >= 4) payload.writeUInt32BE(serial, 0);
            if (kind === 'append') {
              batch.append(payload);
              (queued[i] as Buffer[]).push(Buffer.from(payload));
            } else {
              const f = kind === 'frame' ? framing : varintFraming;
              const header = Buffer.alloc(f.maxHeaderSize);
              const headerSize = f.encodeHeader(size, header, 0);
              batch.frame(f, payload);
              (queued[i] as Buffer[]).push(header.subarray(0, headerSize), Buffer.from(payload));
            }
          }
        }
        batches.forEach((batch, i) => {
          if (batch.bytes > 0) batch.writeTo(sinks[i] as BatchSink);
          (expected[i] as Buffer[]).push(...(queued[i] as Buffer[]));
        });
        sinks.forEach((sink, i) => {
          expect(sink.overwritten()).toBe(0);
          expect(sink.written().equals(Buffer.concat(expected[i] as Buffer[]))).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});
