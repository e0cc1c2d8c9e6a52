import { lengthField } from 'sockframe';
import { COPY_LIMIT, releaseRegion, WriteBatch } from '../../src/write-batch';

const framing = lengthField() as ReturnType<typeof lengthField> & {
  encodeHeader(n: number, t: Buffer, o: number): number;
  maxHeaderSize: number;
};

function framed(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

describe('WriteBatch', () => {
  test("a tick's small frames lie in one region, taken whole without arrays", () => {
    const batch = new WriteBatch();
    batch.frame(framing, Buffer.from('one'));
    batch.frame(framing, Buffer.from('two'));
    batch.append(Buffer.from('raw'));
    expect(batch.bytes).toBe(7 + 7 + 3);
    const region = batch.takeRegion();
    expect(region).toEqual(Buffer.concat([framed('one'), framed('two'), Buffer.from('raw')]));
    expect(batch.bytes).toBe(0);
    expect(batch.takeRegion()).toBeUndefined();
    expect(batch.take().parts).toEqual([]);
    releaseRegion(batch.takenSlab as NonNullable<typeof batch.takenSlab>);
  });

  test('a big payload is queued by reference, so the batch is taken as parts, in order', () => {
    const batch = new WriteBatch();
    const big = Buffer.alloc(COPY_LIMIT, 0x62);
    batch.frame(framing, Buffer.from('small'));
    batch.frame(framing, big);
    batch.frame(framing, Buffer.from('after'));
    expect(batch.takeRegion()).toBeUndefined();
    expect(batch.bytes).toBe(9 + 4 + COPY_LIMIT + 9);
    const { parts, slabs } = batch.take();
    expect(Buffer.concat(parts)).toEqual(
      Buffer.concat([framed('small'), framed(big.toString()), framed('after')]),
    );
    // The payload itself was not copied.
    expect(parts).toContain(big);
    expect(batch.bytes).toBe(0);
    for (const slab of slabs) if (slab !== undefined) releaseRegion(slab);
  });

  test('a region is not shared between two batches writing in turn', () => {
    const a = new WriteBatch();
    const b = new WriteBatch();
    a.frame(framing, Buffer.from('a1'));
    b.frame(framing, Buffer.from('b1'));
    a.frame(framing, Buffer.from('a2'));
    // a's second frame could not extend its region (b wrote after it), so a holds two parts.
    expect(a.takeRegion()).toBeUndefined();
    const { parts, slabs } = a.take();
    expect(Buffer.concat(parts)).toEqual(Buffer.concat([framed('a1'), framed('a2')]));
    expect(b.takeRegion()).toEqual(framed('b1'));
    for (const slab of [...slabs, b.takenSlab]) if (slab !== undefined) releaseRegion(slab);
  });
});
