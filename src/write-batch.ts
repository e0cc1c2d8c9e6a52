import { Buffer } from 'node:buffer';
import type { LengthFraming } from './framing/framing';

/** Chunks at least this big are queued by reference instead of copied. */
export const COPY_LIMIT = 16 * 1024;
/** The first slab of an arena; each next one is twice as big, up to MAX_SLAB_SIZE. */
const MIN_SLAB_SIZE = 4 * 1024;
const MAX_SLAB_SIZE = 64 * 1024;

/**
 * Where the write batches of one server (all its connections) or one client carve the space
 * their small frames are copied into. Space is handed out once: `used` only grows, and a slab
 * that is full is replaced, never reused, so the bytes of one batch can never be overwritten by
 * another, whatever is still queued in sockets. A replaced slab is freed by the garbage
 * collector once the last socket holding a view of it has written that view out (this is how
 * Node's own Buffer pool works).
 *
 * Slabs start small and grow while the arena is busy, so an owner that sends little holds
 * little, and a flood gets 64 KiB slabs (one system call's worth).
 */
export class SlabArena {
  /** The slab regions are carved from; undefined until the first frame. */
  slab: Buffer | undefined = undefined;
  /** Bytes of `slab` handed out. */
  used = 0;
  private nextSize = MIN_SLAB_SIZE;

  /** Replaces the slab with a fresh one of at least `size` bytes. */
  renew(size: number): Buffer {
    const slab = Buffer.allocUnsafe(Math.max(this.nextSize, size));
    this.nextSize = Math.min(MAX_SLAB_SIZE, this.nextSize * 2);
    this.slab = slab;
    this.used = 0;
    return slab;
  }
}

/** Where a batch is written: a socket, or anything with its write, cork and uncork. */
export interface BatchSink {
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

/** A framing that writes its header in place (the fast path of send()). */
export type HeaderFraming = LengthFraming & {
  encodeHeader(payloadLength: number, target: Buffer, offset: number): number;
  readonly maxHeaderSize: number;
};

/**
 * The bytes one connection has queued and not yet handed to its socket. Small frames are copied
 * back to back into its arena's slab, so a tick's worth of messages leaves in one write, as
 * careful hand-written code does, and an idle connection holds no buffer at all. Big payloads
 * are queued by reference and never copied.
 *
 * The open region is the batch's own end of the slab: it grows while no other batch of the arena
 * has carved space after it; otherwise the region is sealed and a new one begins.
 */
export class WriteBatch {
  /** Sealed chunks, in order. */
  private readonly parts: Buffer[] = [];
  /** The open region: [start, end) of `slab`. */
  private slab: Buffer | undefined = undefined;
  private start = 0;
  private end = 0;
  /** Bytes queued. */
  bytes = 0;

  constructor(private readonly arena: SlabArena) {}

  /** Queues a chunk: copied when small, by reference when big. */
  append(chunk: Buffer): void {
    const length = chunk.length;
    if (length >= COPY_LIMIT) {
      this.seal();
      this.parts.push(chunk);
    } else if (length > 0) {
      const slab = this.reserve(length);
      chunk.copy(slab, this.end);
      this.advance(length);
    }
    this.bytes += length;
  }

  /**
   * Queues a header written in place by the framing, then the payload. Throws a RangeError,
   * queueing nothing, when the framing's header writer says it wrote more than its
   * `maxHeaderSize`.
   */
  frame(framing: HeaderFraming, payload: Buffer): void {
    const length = payload.length;
    const maxHeader = framing.maxHeaderSize;
    const big = length >= COPY_LIMIT;
    const slab = this.reserve(big ? maxHeader : maxHeader + length);
    const headerSize = framing.encodeHeader(length, slab, this.end);
    if (!(headerSize >= 0 && headerSize <= maxHeader)) {
      throw new RangeError(
        `The framing's encodeHeader wrote ${String(headerSize)} bytes; its maxHeaderSize is ${maxHeader}.`,
      );
    }
    if (big) {
      this.advance(headerSize);
      this.seal();
      this.parts.push(payload);
    } else {
      payload.copy(slab, this.end + headerSize);
      this.advance(headerSize + length);
    }
    this.bytes += headerSize + length;
  }

  /**
   * Hands every queued chunk to `sink`, in order and in as few writes as it allows (one write, or
   * a corked run that the socket sends as one writev), leaving the batch empty. `done`, when
   * given, is passed to the last write: the sink calls it once everything before it is written.
   */
  writeTo(sink: BatchSink, done?: (err?: Error | null) => void): void {
    this.seal();
    const parts = this.parts;
    const last = parts.length - 1;
    if (last === 0) {
      sink.write(parts[0] as Buffer, done);
    } else {
      sink.cork();
      for (let i = 0; i < last; i++) sink.write(parts[i] as Buffer);
      sink.write(parts[last] as Buffer, done);
      sink.uncork();
    }
    parts.length = 0;
    this.bytes = 0;
  }

  /** Drops everything queued. */
  clear(): void {
    this.seal();
    this.parts.length = 0;
    this.bytes = 0;
  }

  /** A slab with at least `size` free bytes at `this.end`, extending the open region if it can. */
  private reserve(size: number): Buffer {
    const arena = this.arena;
    let slab = arena.slab;
    if (
      slab !== undefined &&
      slab === this.slab &&
      arena.used === this.end &&
      this.end + size <= slab.length
    ) {
      return slab;
    }
    this.seal();
    if (slab === undefined || arena.used + size > slab.length) slab = arena.renew(size);
    this.slab = slab;
    this.start = arena.used;
    this.end = arena.used;
    return slab;
  }

  /** Takes `length` more bytes into the open region: they are this batch's for good. */
  private advance(length: number): void {
    this.end += length;
    this.arena.used = this.end;
  }

  /** Closes the open region so that it can be written out. */
  private seal(): void {
    const slab = this.slab;
    if (slab === undefined) return;
    if (this.end > this.start) this.parts.push(slab.subarray(this.start, this.end));
    this.slab = undefined;
    this.start = 0;
    this.end = 0;
  }
}
