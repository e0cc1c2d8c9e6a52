import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
export { prng } from '../helpers/random';

/** An integer in [min, max], log-uniformly distributed: as many 1-byte-ish values as 100 KiB-ish ones. */
export function logUniform(random: () => number, min: number, max: number): number {
  const lo = Math.log(min + 1);
  const hi = Math.log(max + 1);
  return Math.min(max, Math.max(min, Math.floor(Math.exp(lo + random() * (hi - lo))) - 1));
}

/** 1 MiB of random bytes; payloads are slices of it at random offsets (cheap to make, still varied). */
export const POOL = randomBytes(1 << 20);

export function payload(random: () => number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const from = Math.floor(random() * POOL.length);
    at += POOL.copy(bytes, at, from, Math.min(POOL.length, from + (size - at)));
  }
  return bytes;
}

export function sha1(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/** Writes `bytes` in random pieces of 1 byte to `maxPiece`, honouring the socket's backpressure. */
export async function writeSplit(
  socket: Socket,
  bytes: Buffer,
  random: () => number,
  maxPiece: number,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) {
    const piece = Math.min(bytes.length - at, logUniform(random, 1, maxPiece));
    const ok = socket.write(bytes.subarray(at, at + piece));
    at += piece;
    if (!ok) await new Promise<void>((resolve) => socket.once('drain', resolve));
  }
}

/**
 * A reader of default-framed replies, with an offset over a chunk list (independent of the
 * library's own assembler, so it can check it).
 */
export class ReplyReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  readonly replies: string[] = [];
  onReply: () => void = () => {};

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) return;
      const head = this.take(4, false);
      const length = head.readUInt32BE(0);
      if (this.buffered < 4 + length) return;
      this.take(4, true);
      this.replies.push(sha1(this.take(length, true)));
      this.onReply();
    }
  }

  private take(count: number, consume: boolean): Buffer {
    if (count === 0) return Buffer.alloc(0);
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= count) out = first.subarray(0, count);
    else out = Buffer.concat(this.chunks).subarray(0, count);
    if (consume) {
      if (first.length < count) this.chunks = [Buffer.concat(this.chunks)];
      const whole = this.chunks[0] as Buffer;
      const rest = whole.subarray(count);
      this.chunks[0] = rest;
      if (rest.length === 0) this.chunks.shift();
      this.buffered -= count;
    }
    return out;
  }
}

/** Samples the process's resident set size until stopped; reports the peak above the start. */
export class RssSampler {
  private readonly start = process.memoryUsage.rss();
  private peak = this.start;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }, 5);

  stop(): { startMiB: number; peakMiB: number; growthMiB: number } {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    const mib = (n: number): number => Math.round((n / 1048576) * 10) / 10;
    return { startMiB: mib(this.start), peakMiB: mib(this.peak), growthMiB: mib(this.peak - this.start) };
  }
}

/** Figures worth reading after a run, one JSON line each, in .stress-report.jsonl at the root. */
export function report(name: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ name, ...figures });
  appendFileSync(join(__dirname, '..', '..', '.stress-report.jsonl'), `${line}\n`);
}
