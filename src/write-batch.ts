import { Buffer } from 'node:buffer';
import type { LengthFraming } from './framing/framing';

/** Chunks at least this big are queued by reference instead of copied. */
export const COPY_LIMIT = 16 * 1024;
/** The first slab of an arena; each next one is twice as big, up to MAX_SLAB_SIZE. */
const MIN_SLAB_SIZE = 4 * 1024;
const MAX_SLAB_SIZE = 64 * 1024;
/** Written-out slabs an arena keeps for reuse (at most 8 MiB, a fan-out burst to 1,000 connections). */
const MAX_FREE_SLABS = 128;
/** Part entries a batch keeps room for once written (more: its arrays are dropped). */
const MAX_KEPT_PARTS = 1024;

/**
 * A buffer regions are carved from, in order. `live` counts the regions opened in it and not yet
 * released: a region is counted from the moment a batch starts writing into it (not from when it
 * is sealed), so a slab with a batch still filling its region is never free.
 */
class Slab {
  live = 0;
  /** On the free list already (so that it can never be put there twice). */
  recycled = false;
  constructor(readonly buffer: Buffer) {}
}

/**
 * Where the write batches of one server (all its connections) or of the process's stream clients
 * carve the space their small frames are copied into. Nothing is shared between servers.
 *
 * Space is handed out in order and once per use of a slab: `used` only grows. A slab is reused
 * only when it has been replaced as the current one and every region ever opened in it has been
 * released: written to a socket that passed the bytes on to the operating system at once, or
 * dropped unwritten. A slab any of whose regions a socket still holds is never reused; the
 * garbage collector frees it once the socket is done with it. So bytes queued on one connection
 * can never be overwritten by another connection's, whatever the mix of sizes and turns.
 *
 * Slabs start small and grow while the arena is busy, so an owner that sends little holds
 * little, and a flood gets 64 KiB slabs (one system call's worth) recycled through a short free
 * list instead of fresh memory for every 64 KiB.
 */
export class SlabArena {
  /** The slab regions are carved from; undefined until the first frame. */
  current: Slab | undefined = undefined;
  /** Bytes of `current` handed out. */
  used = 0;
  private nextSize = MIN_SLAB_SIZE;
  private readonly free: Buffer[] = [];

  /** Opens a region of at least `size` bytes at `used` in the current slab (replaced if full). */
  open(size: number): Slab {
    let slab = this.current;
    if (slab === undefined || this.used + size > slab.buffer.length) {
      if (slab !== undefined) this.retire(slab);
      const reused = size <= MAX_SLAB_SIZE && this.nextSize === MAX_SLAB_SIZE ? this.free.pop() : undefined;
      slab = new Slab(reused ?? Buffer.allocUnsafe(Math.max(this.nextSize, size)));
      this.nextSize = Math.min(MAX_SLAB_SIZE, this.nextSize * 2);
      this.current = slab;
      this.used = 0;
    }
    slab.live++;
    return slab;
  }

  /** A region is done with: written out and passed on, or dropped unwritten. */
  release(slab: Slab): void {
    slab.live--;
    if (slab !== this.current) this.recycle(slab);
  }

  private retire(slab: Slab): void {
    this.current = undefined;
    this.recycle(slab);
  }

  private recycle(slab: Slab): void {
    if (
      slab.live === 0 &&
      !slab.recycled &&
      slab.buffer.length === MAX_SLAB_SIZE &&
      this.free.length < MAX_FREE_SLABS
    ) {
      slab.recycled = true;
      this.free.push(slab.buffer);
    }
  }
}

/** Where a batch is written: a socket, or anything with its write, cork, uncork and backlog. */
export interface BatchSink {
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  /** Bytes given to write() and not yet passed on; 0 right after a write means all were. */
  readonly writableLength: number;
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
  /** Sealed chunks, in order, and for each the slab its region is in (undefined: by reference). */
  private parts: (Buffer | undefined)[] = [];
  private slabs: (Slab | undefined)[] = [];
  /**
   * Entries of `parts` and `slabs` in use. The arrays are reused by index and never truncated
   * (setting an array's length costs a runtime call); emptied entries are cleared, so that a
   * written chunk is not kept alive by the batch.
   */
  private count = 0;
  /**
   * The open region: [start, end) of `slab` is written, [end, limit) reserved for more. A region
   * opens with room for what this batch flushed last time (at most COPY_LIMIT), so that when many
   * connections are sent to in one turn (fan-out), each one's frames still lie back to back.
   */
  private slab: Slab | undefined = undefined;
  private start = 0;
  private end = 0;
  private limit = 0;
  /** Bytes of the last flush: the room the next region opens with. */
  private lastFlush = 0;
  /** Bytes queued. */
  bytes = 0;

  constructor(private readonly arena: SlabArena) {}

  /** Queues a chunk: copied when small, by reference when big. */
  append(chunk: Buffer): void {
    const length = chunk.length;
    if (length >= COPY_LIMIT) {
      this.seal();
      this.add(chunk, undefined);
    } else if (length > 0) {
      const buffer = this.reserve(length);
      chunk.copy(buffer, this.end);
      this.advance(length);
    }
    this.bytes += length;
  }

  /**
   * Queues a frame by reference, whatever its size: for frames that nobody changes afterwards
   * and that several batches queue at once (a broadcast), which are then copied only when the
   * batch is joined into one write.
   */
  share(frame: Buffer): void {
    this.seal();
    this.add(frame, undefined);
    this.bytes += frame.length;
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
    const buffer = this.reserve(big ? maxHeader : maxHeader + length);
    const headerSize = framing.encodeHeader(length, buffer, this.end);
    if (!(headerSize >= 0 && headerSize <= maxHeader)) {
      throw new RangeError(
        `The framing's encodeHeader wrote ${String(headerSize)} bytes; its maxHeaderSize is ${maxHeader}.`,
      );
    }
    if (big) {
      this.advance(headerSize);
      this.seal();
      this.add(payload, undefined);
    } else {
      payload.copy(buffer, this.end + headerSize);
      this.advance(headerSize + length);
    }
    this.bytes += headerSize + length;
  }

  /**
   * Hands every queued chunk to `sink`, in order and in as few writes as it allows (one write, or
   * a corked run that the socket sends as one writev; parts of less than COPY_LIMIT in all are
   * joined into one buffer first), leaving the batch empty. `done`, when given, is passed to the
   * last write: the sink calls it once everything before it is written. When the sink passed
   * everything on at once, the slab regions are released for reuse; otherwise the sink holds them
   * and their slabs are left to the garbage collector. Returns true when the sink passed
   * everything on at once.
   */
  writeTo(sink: BatchSink, done?: (err?: Error | null) => void): boolean {
    const bytes = this.bytes;
    this.lastFlush = bytes;
    const open = this.slab;
    if (open !== undefined && bytes > 0 && this.count === 0 && this.end - this.start === bytes) {
      // The common case, one region and nothing sealed before it: written without the part lists.
      const arena = this.arena;
      const end = this.end;
      if (open === arena.current && arena.used === this.limit) arena.used = end;
      const region = open.buffer.subarray(this.start, end);
      this.slab = undefined;
      this.start = 0;
      this.end = 0;
      this.limit = 0;
      this.bytes = 0;
      sink.write(region, done);
      const passedOn = sink.writableLength === 0;
      if (passedOn) arena.release(open);
      return passedOn;
    }
    this.seal();
    const parts = this.parts;
    const slabs = this.slabs;
    const last = this.count - 1;
    if (last > 0 && this.bytes < COPY_LIMIT) {
      // Regions broken up by other batches' frames (fan-out): copied into one region, since one
      // write costs less than a writev of many small parts; the parts are done with at once.
      const arena = this.arena;
      const slab = arena.open(this.bytes);
      const joined = slab.buffer.subarray(arena.used, arena.used + this.bytes);
      arena.used += this.bytes;
      let at = 0;
      for (let i = 0; i <= last; i++) {
        at += (parts[i] as Buffer).copy(joined, at);
        const from = slabs[i];
        if (from !== undefined) arena.release(from);
        parts[i] = undefined;
        slabs[i] = undefined;
      }
      parts[0] = joined;
      slabs[0] = slab;
      this.count = 1;
      sink.write(joined, done);
    } else if (last === 0) {
      sink.write(parts[0] as Buffer, done);
    } else {
      sink.cork();
      for (let i = 0; i < last; i++) sink.write(parts[i] as Buffer);
      sink.write(parts[last] as Buffer, done);
      sink.uncork();
    }
    const passedOn = sink.writableLength === 0;
    this.letGo(passedOn);
    return passedOn;
  }

  /** Drops everything queued. */
  clear(): void {
    this.seal();
    this.letGo(true);
  }

  /**
   * Empties the batch. Its regions are released when nobody holds them; regions a sink still
   * holds stay counted for good, so their slabs are never reused.
   */
  private letGo(released: boolean): void {
    const parts = this.parts;
    const slabs = this.slabs;
    const count = this.count;
    for (let i = 0; i < count; i++) {
      const slab = slabs[i];
      if (released && slab !== undefined) this.arena.release(slab);
      parts[i] = undefined;
      slabs[i] = undefined;
    }
    this.count = 0;
    if (parts.length > MAX_KEPT_PARTS) {
      // Arrays grown by a burst are let go rather than kept for good.
      this.parts = [];
      this.slabs = [];
    }
    this.bytes = 0;
  }

  /** Appends a sealed chunk and the slab its region is in (undefined: queued by reference). */
  private add(part: Buffer, slab: Slab | undefined): void {
    const at = this.count++;
    this.parts[at] = part;
    this.slabs[at] = slab;
  }

  /** A buffer with at least `size` free bytes at `this.end`, extending the open region if it can. */
  private reserve(size: number): Buffer {
    const arena = this.arena;
    const slab = this.slab;
    if (slab !== undefined) {
      if (this.end + size <= this.limit) return slab.buffer;
      // Nobody has carved space after this region: it grows in place.
      if (slab === arena.current && arena.used === this.limit && this.end + size <= slab.buffer.length) {
        this.limit = this.end + size;
        arena.used = this.limit;
        return slab.buffer;
      }
    }
    this.seal();
    const room = Math.max(size, Math.min(this.lastFlush, COPY_LIMIT));
    const opened = arena.open(room);
    this.slab = opened;
    this.start = arena.used;
    this.end = arena.used;
    this.limit = arena.used + room;
    arena.used = this.limit;
    return opened.buffer;
  }

  /** Takes `length` more bytes of the reserved room into the region. */
  private advance(length: number): void {
    this.end += length;
  }

  /** Closes the open region so that it can be written out (an empty one is released at once). */
  private seal(): void {
    const slab = this.slab;
    if (slab === undefined) return;
    // Room reserved and not used goes back, when nobody has carved space after it.
    const arena = this.arena;
    if (slab === arena.current && arena.used === this.limit) arena.used = this.end;
    if (this.end > this.start) {
      this.add(slab.buffer.subarray(this.start, this.end), slab);
    } else {
      this.arena.release(slab);
    }
    this.slab = undefined;
    this.start = 0;
    this.end = 0;
    this.limit = 0;
  }
}
