import { Buffer } from 'node:buffer';
import type { Writable } from 'node:stream';
import type { LengthFraming } from './framing/framing';

/** Size of each slab small frames are copied into. */
const SLAB_SIZE = 64 * 1024;
/** Chunks at least this big are queued by reference instead of copied. */
export const COPY_LIMIT = 16 * 1024;
/** Written-out slabs kept for reuse, process-wide (at most 1 MiB). */
const MAX_FREE_SLABS = 16;

/** A buffer shared by every connection of the process; regions of it are handed out in order. */
class Slab {
  readonly buffer: Buffer;
  used = 0;
  /** Regions sealed and not yet written out. */
  pending = 0;
  /** No more regions will be carved from it. */
  retired = false;

  constructor(buffer: Buffer) {
    this.buffer = buffer;
  }
}

const freeSlabs: Buffer[] = [];
let current = new Slab(Buffer.allocUnsafe(SLAB_SIZE));

function newSlab(size: number): Slab {
  const reused = size <= SLAB_SIZE ? freeSlabs.pop() : undefined;
  return new Slab(reused ?? Buffer.allocUnsafe(Math.max(SLAB_SIZE, size)));
}

function retire(slab: Slab): void {
  slab.retired = true;
  recycle(slab);
}

function recycle(slab: Slab): void {
  if (
    slab.retired &&
    slab.pending === 0 &&
    slab.buffer.length === SLAB_SIZE &&
    freeSlabs.length < MAX_FREE_SLABS
  ) {
    freeSlabs.push(slab.buffer);
  }
}

/** Marks a sealed region as written out (or dropped), so that its slab can be reused. */
function releaseRegion(slab: Slab): void {
  slab.pending--;
  recycle(slab);
}

/** Where a batch is written: a socket, or anything with its write, cork and uncork. */
export type BatchSink = Pick<Writable, 'write' | 'cork' | 'uncork' | 'writableLength'>;

/**
 * The bytes one connection has queued and not yet handed to its socket. Small frames are copied
 * back to back into a slab shared by all connections (as Node's own Buffer pool does), so a
 * tick's worth of messages leaves in one write, as careful hand-written code does, and an idle
 * connection holds no buffer at all. Big payloads are queued by reference and never copied.
 * Slabs whose regions have all been written are reused, so a steady stream does not keep
 * touching fresh memory.
 */
export class WriteBatch {
  /** Sealed chunks, in order, and for each the slab it was carved from (if any). */
  private readonly parts: Buffer[] = [];
  private readonly slabs: (Slab | undefined)[] = [];
  /** The open region: [start, end) of `slab`, still growing while nobody else writes after it. */
  private slab: Slab | undefined;
  private start = 0;
  private end = 0;
  /** Bytes queued. */
  bytes = 0;

  /**
   * @param owner its flush() is called when the slab cannot take the next frame, before a new one
   *   is started, so that full slabs are written out whole. An object rather than a callback, so
   *   that a connection passes itself instead of allocating a closure.
   */
  constructor(private readonly owner?: { flush(): void }) {}

  /** Queues a chunk: copied when small, by reference when big. */
  append(chunk: Buffer): void {
    const length = chunk.length;
    if (length >= COPY_LIMIT) {
      this.seal();
      this.parts.push(chunk);
      this.slabs.push(undefined);
    } else {
      const buffer = this.reserve(length);
      chunk.copy(buffer, this.end);
      this.advance(length);
    }
    this.bytes += length;
  }

  /** Queues a header written in place by the framing, then the payload. */
  frame(
    framing: LengthFraming & { encodeHeader(n: number, t: Buffer, o: number): number },
    payload: Buffer,
  ): void {
    const length = payload.length;
    const maxHeader = framing.maxHeaderSize as number;
    if (length >= COPY_LIMIT) {
      const buffer = this.reserve(maxHeader);
      const headerSize = framing.encodeHeader(length, buffer, this.end);
      this.advance(headerSize);
      this.seal();
      this.parts.push(payload);
      this.slabs.push(undefined);
      this.bytes += headerSize + length;
      return;
    }
    const buffer = this.reserve(maxHeader + length);
    const headerSize = framing.encodeHeader(length, buffer, this.end);
    payload.copy(buffer, this.end + headerSize);
    this.advance(headerSize + length);
    this.bytes += headerSize + length;
  }

  /**
   * Hands every queued chunk to `sink`, in order and in as few writes as it allows (one write, or
   * a corked run that the socket sends as one writev), leaving the batch empty; its arrays are
   * kept for the next tick, so a flush allocates nothing but the view of the last region.
   * Returns true when the sink passed everything on at once: the slab regions are then reused;
   * otherwise the sink still holds them and they are left to the garbage collector.
   */
  writeTo(sink: BatchSink): boolean {
    this.seal();
    const parts = this.parts;
    const slabs = this.slabs;
    if (parts.length === 1) {
      sink.write(parts[0]);
    } else {
      sink.cork();
      for (const part of parts) sink.write(part);
      sink.uncork();
    }
    const passedOn = sink.writableLength === 0;
    if (passedOn) for (const slab of slabs) if (slab !== undefined) releaseRegion(slab);
    parts.length = 0;
    slabs.length = 0;
    this.bytes = 0;
    return passedOn;
  }

  /** Drops everything queued. */
  clear(): void {
    this.seal();
    for (const slab of this.slabs) if (slab !== undefined) releaseRegion(slab);
    this.parts.length = 0;
    this.slabs.length = 0;
    this.bytes = 0;
  }

  /** A buffer with at least `size` free bytes at `this.end`, extending the open region if it can. */
  private reserve(size: number): Buffer {
    const slab = this.slab;
    if (
      slab !== undefined &&
      slab === current &&
      slab.used === this.end &&
      this.end + size <= slab.buffer.length
    ) {
      return slab.buffer;
    }
    if (current.used + size > current.buffer.length) {
      // The shared slab is full: write out what we hold first, so full slabs leave whole.
      if (this.bytes > 0) this.owner?.flush();
      this.seal();
      retire(current);
      current = newSlab(size);
    } else {
      this.seal();
    }
    this.slab = current;
    this.start = current.used;
    this.end = current.used;
    return current.buffer;
  }

  private advance(length: number): void {
    this.end += length;
    (this.slab as Slab).used = this.end;
  }

  /** Closes the open region so that it can be written out. */
  private seal(): void {
    const slab = this.slab;
    if (slab === undefined) return;
    if (this.end > this.start) {
      this.parts.push(slab.buffer.subarray(this.start, this.end));
      this.slabs.push(slab);
      slab.pending++;
    }
    this.slab = undefined;
    this.start = 0;
    this.end = 0;
  }
}
