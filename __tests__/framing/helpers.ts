// Shared by the framing tests: a recording sink for the assembler (the nats.js habit of an
// injected output sink) and ways to cut a byte stream into chunks.
import { createHash } from 'node:crypto';
import { MessageAssembler, type MessageAssemblerOptions } from '../../src/framing/assembler';
import { NEED_MORE, type FrameLength, type Framing, type LengthFraming } from '../../src/framing/framing';
import type { SockframeError } from '../../src/errors';

export interface Recorder {
  readonly assembler: MessageAssembler;
  readonly messages: Buffer[];
  readonly errors: SockframeError[];
}

export type RecorderOptions = Omit<MessageAssemblerOptions, 'onMessage' | 'onError'>;

/** An assembler whose messages and errors are recorded in arrays. */
export function record(options: RecorderOptions = {}): Recorder {
  const messages: Buffer[] = [];
  const errors: SockframeError[] = [];
  const assembler = new MessageAssembler({
    ...options,
    onMessage: (message) => messages.push(message),
    onError: (err) => errors.push(err),
  });
  return { assembler, messages, errors };
}

/** The bytes `framing.encode` puts on the wire for these payloads, one after the other. */
export function encodeAll(framing: Framing, payloads: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const payload of payloads) {
    const encoded = framing.encode ? framing.encode(payload) : payload;
    if (Buffer.isBuffer(encoded)) parts.push(encoded);
    else parts.push(...encoded);
  }
  return Buffer.concat(parts);
}

/** Pushes `bytes` cut at the given positions (sorted, within 0..bytes.length). */
export function pushCut(assembler: MessageAssembler, bytes: Buffer, cuts: readonly number[]): void {
  let from = 0;
  for (const cut of cuts) {
    assembler.push(bytes.subarray(from, cut));
    from = cut;
  }
  assembler.push(bytes.subarray(from));
}

/** Pushes `bytes` in chunks of `size` bytes (the last one may be shorter). */
export function pushInChunks(assembler: MessageAssembler, bytes: Buffer, size: number): void {
  for (let at = 0; at < bytes.length; at += size) assembler.push(bytes.subarray(at, at + size));
}

/** A copy of `bytes` in memory of its own, never in Node's shared pool. */
export function unpooled(bytes: Buffer | string): Buffer {
  const source = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const own = Buffer.alloc(source.length);
  source.copy(own);
  return own;
}

/** True when `view` lies inside `chunk`'s memory. */
export function isViewOf(view: Buffer, chunk: Buffer): boolean {
  return (
    view.buffer === chunk.buffer &&
    view.byteOffset >= chunk.byteOffset &&
    view.byteOffset + view.length <= chunk.byteOffset + chunk.length
  );
}

export function texts(messages: readonly Buffer[]): string[] {
  return messages.map((m) => m.toString('latin1'));
}

/**
 * Short, comparable descriptions of buffers: the bytes in hex when short, else length and hash.
 * Jest's deep equality walks big Buffers element by element, which is slow.
 */
export function fingerprints(buffers: readonly Buffer[]): string[] {
  return buffers.map((b) =>
    b.length <= 32
      ? b.toString('hex')
      : `${b.length} bytes, sha1 ${createHash('sha1').update(b).digest('hex')}`,
  );
}

/** Deterministic pseudo-random bytes (xorshift32), cheap for large sizes. */
export function pseudoRandomBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A netstring-like hook, `<decimal length>:<payload>`: its header has no fixed size, so it answers
 * NEED_MORE until the colon arrives and gives a per-message `{ length, strip }`.
 */
export function netstring(): LengthFraming & { encode(payload: Buffer): readonly Buffer[] } {
  return {
    headerSize: 1,
    messageLength(head: Buffer): FrameLength | typeof NEED_MORE {
      const colon = head.indexOf(0x3a);
      const digits = colon < 0 ? head.length : colon;
      for (let i = 0; i < digits; i++) {
        const byte = head[i] as number;
        if (byte < 0x30 || byte > 0x39) throw new Error(`netstring length has a non-digit at ${i}`);
      }
      if (colon < 0) return NEED_MORE;
      if (colon === 0) throw new Error('netstring length is empty');
      return { length: colon + 1 + Number(head.toString('latin1', 0, colon)), strip: colon + 1 };
    },
    encode(payload: Buffer): readonly Buffer[] {
      return [Buffer.from(`${payload.length}:`, 'latin1'), payload];
    },
  };
}
