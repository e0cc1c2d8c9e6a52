/**
 * Hand-written length-prefix code for the benchmarks to measure sockframe against: a 4-byte
 * big-endian payload length, as sockframe's default framing.
 *
 * - BaselineParser / BaselineWriter: what careful code does — a chunk list parsed with an offset
 *   (a frame spanning chunks is copied once), small frames batched into ~64 KiB writes, a big
 *   payload written after its header without a copy.
 * - NaiveParser / naiveFrame: what most hand-rolled code does — Buffer.concat of the backlog on
 *   every read, and one write per message.
 */
import type { Socket } from 'node:net';

const BATCH = 64 * 1024;

/** A length-prefix parser over a chunk list, copying a spanning frame once. */
export class BaselineParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Whole frame length of the pending frame, once its header is in. */
  private expected = -1;

  constructor(private readonly onMessage: (message: Buffer) => void) {}

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.buffered > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.expected < 0) {
        if (this.buffered < 4) return;
        const head = Buffer.concat(this.chunks, this.buffered).subarray(0, 4);
        this.expected = head.readUInt32BE(0) + 4;
      }
      if (this.buffered < this.expected) return;
      // Copy the spanning frame once; parse the rest of the last chunk in place.
      const rest = this.buffered - this.expected;
      const frame = Buffer.concat(this.chunks, this.expected);
      this.chunks = [];
      this.buffered = 0;
      this.expected = -1;
      this.onMessage(frame.subarray(4));
      data = chunk.subarray(chunk.length - rest);
    }
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset);
      if (data.length - offset - 4 < length) {
        this.expected = length + 4;
        break;
      }
      this.onMessage(data.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    if (offset < data.length) {
      this.chunks.push(data.subarray(offset));
      this.buffered = data.length - offset;
    } else {
      this.expected = -1;
    }
  }
}

/** Batch buffers the kernel has already copied out, shared by every writer of the process. */
const spare: Buffer[] = [];
const MAX_SPARE = 8;

/**
 * Writes frames into ~64 KiB buffers, flushed when full or on the next tick. A buffer is taken
 * on the first send after a flush, so an idle connection holds none, and goes back to a shared
 * spare list when the socket wrote it out at once.
 */
export class BaselineWriter {
  private buffer: Buffer | undefined;
  private used = 0;
  private scheduled = false;

  /**
   * @param keep keep the buffer once the socket wrote it out at once, instead of handing it to the
   *   spare list: for a server that writes to many connections every turn, where a spare list of
   *   a few buffers would leave most connections allocating a fresh one on every turn.
   */
  constructor(
    private readonly socket: Socket,
    private readonly keep = false,
  ) {}

  /** Queues a frame; returns false when the socket wants the caller to wait for 'drain'. */
  send(payload: Buffer): boolean {
    const frameSize = payload.length + 4;
    if (frameSize > BATCH) {
      // A big payload is not copied: its header and itself leave in one writev.
      this.flush();
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(payload.length, 0);
      this.socket.cork();
      this.socket.write(header);
      const ok = this.socket.write(payload);
      this.socket.uncork();
      return ok;
    }
    let ok = true;
    if (this.used + frameSize > BATCH) ok = this.flush();
    const buffer = (this.buffer ??= spare.pop() ?? Buffer.allocUnsafe(BATCH));
    buffer.writeUInt32BE(payload.length, this.used);
    payload.copy(buffer, this.used + 4);
    this.used += frameSize;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
    return ok && !this.socket.writableNeedDrain;
  }

  flush(): boolean {
    this.scheduled = false;
    if (this.used === 0 || this.buffer === undefined) return !this.socket.writableNeedDrain;
    const buffer = this.buffer;
    this.buffer = undefined;
    const used = this.used;
    this.used = 0;
    const ok = this.socket.write(buffer.subarray(0, used));
    // Nothing left queued: the kernel has the bytes, so the buffer can be filled again.
    if (this.socket.writableLength === 0) {
      if (this.keep) this.buffer = buffer;
      else if (spare.length < MAX_SPARE) spare.push(buffer);
    }
    return ok;
  }
}

/** The common hand-rolled parser: concatenate the backlog with every chunk, then scan it. */
export class NaiveParser {
  private backlog = Buffer.alloc(0);

  constructor(private readonly onMessage: (message: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.backlog = Buffer.concat([this.backlog, chunk]);
    let offset = 0;
    while (this.backlog.length - offset >= 4) {
      const length = this.backlog.readUInt32BE(offset);
      if (this.backlog.length - offset - 4 < length) break;
      this.onMessage(this.backlog.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    this.backlog = this.backlog.subarray(offset);
  }
}

/** One frame in one new buffer, ready for its own socket.write. */
export function naiveFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(payload.length + 4);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}
