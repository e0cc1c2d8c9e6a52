import { lengthField } from 'sockframe';
import { COPY_LIMIT, WriteBatch, type BatchSink } from '../../src/write-batch';
import { frame } from '../helpers/net';

const framing = lengthField() as ReturnType<typeof lengthField> & {
  encodeHeader(n: number, t: Buffer, o: number): number;
  maxHeaderSize: number;
};

/** A sink that records its calls; `held` bytes stand for what a socket could not pass on yet. */
function recordingSink(held = 0): BatchSink & { calls: (Buffer | 'cork' | 'uncork')[] } {
  const calls: (Buffer | 'cork' | 'uncork')[] = [];
  return {
    calls,
    writableLength: held,
    write: (chunk: Buffer) => calls.push(chunk) > 0,
    cork: () => void calls.push('cork'),
    uncork: () => void calls.push('uncork'),
  };
}

describe('WriteBatch', () => {
  test("a tick's small frames lie in one region, written in one write", () => {
    const batch = new WriteBatch();
    batch.frame(framing, Buffer.from('one'));
    batch.frame(framing, Buffer.from('two'));
    batch.append(Buffer.from('raw'));
    expect(batch.bytes).toBe(7 + 7 + 3);
    const sink = recordingSink();
    expect(batch.writeTo(sink)).toBe(true);
    expect(sink.calls).toEqual([Buffer.concat([frame('one'), frame('two'), Buffer.from('raw')])]);
    expect(batch.bytes).toBe(0);
    // Nothing is written twice.
    const again = recordingSink();
    batch.frame(framing, Buffer.from('next'));
    batch.writeTo(again);
    expect(again.calls).toEqual([frame('next')]);
  });

  test('a big payload is queued by reference, so the batch is written as a corked run, in order', () => {
    const batch = new WriteBatch();
    const big = Buffer.alloc(COPY_LIMIT, 0x62);
    batch.frame(framing, Buffer.from('small'));
    batch.frame(framing, big);
    batch.frame(framing, Buffer.from('after'));
    expect(batch.bytes).toBe(9 + 4 + COPY_LIMIT + 9);
    // A socket still holding bytes: writeTo says so.
    const sink = recordingSink(100);
    expect(batch.writeTo(sink)).toBe(false);
    expect(sink.calls[0]).toBe('cork');
    expect(sink.calls.at(-1)).toBe('uncork');
    const parts = sink.calls.slice(1, -1) as Buffer[];
    expect(Buffer.concat(parts)).toEqual(Buffer.concat([frame('small'), frame(big), frame('after')]));
    // The payload itself was not copied.
    expect(parts).toContain(big);
    expect(batch.bytes).toBe(0);
  });

  test('a region is not shared between two batches writing in turn', () => {
    const a = new WriteBatch();
    const b = new WriteBatch();
    a.frame(framing, Buffer.from('a1'));
    b.frame(framing, Buffer.from('b1'));
    a.frame(framing, Buffer.from('a2'));
    // a's second frame could not extend its region (b wrote after it), so a holds two parts.
    const sinkA = recordingSink();
    a.writeTo(sinkA);
    expect(sinkA.calls).toEqual(['cork', frame('a1'), frame('a2'), 'uncork']);
    const sinkB = recordingSink();
    b.writeTo(sinkB);
    expect(sinkB.calls).toEqual([frame('b1')]);
  });
});
