/**
 * What the fan-out workload sends, and the checker its client runs on every connection.
 *
 * Each message is a 4-byte big-endian length (1024) and a 1 KiB payload:
 *
 *   [0, 4)     the connection it is meant for (BROADCAST for a broadcast)
 *   [4, 8)     its sequence number on that connection: 0, 1, 2, … with no gap
 *   [8, 1024)  1016 bytes of a fixed pseudo-random pattern, from an offset that depends on both
 *
 * so a message that reaches the wrong connection, arrives out of order, or has any byte of
 * another message in it, is told apart from the right one. The stream of each connection ends
 * with an 8-byte payload: the first timed sequence number and the count of messages sent.
 *
 * The checker decodes the length prefix itself (sockframe's assembler and the baseline parser
 * are what is being measured, so neither checks itself), compares every byte, and reports the
 * first mismatch with what was expected and what came.
 */

export const FANOUT_SIZE = 1024;
/** The identity a broadcast message carries: one payload for every connection. */
export const BROADCAST = 0xffffffff;
/** The payload length of the end of a stream. */
export const END_SIZE = 8;
/** The payload length of the greeting each client connection sends first: its identity. */
export const HELLO_SIZE = 4;

const BODY = FANOUT_SIZE - 8;
/** A prime, so that body offsets spread over the whole pattern. */
const PATTERN_PERIOD = 65_521;

/** The pattern the bodies are cut from, the same in every process (xorshift32, fixed seed). */
const pattern = ((): Buffer => {
  const bytes = Buffer.allocUnsafe(PATTERN_PERIOD + BODY);
  let state = 0x9e3779b9;
  for (let i = 0; i < bytes.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
})();

function bodyOffset(identity: number, seq: number): number {
  return ((Math.imul(seq, 0x9e3779b1) ^ Math.imul(identity, 0x85ebca6b)) >>> 0) % PATTERN_PERIOD;
}

/** The payload (without its length prefix) of message `seq` for `identity`, in a new buffer. */
export function fanoutMessage(identity: number, seq: number): Buffer {
  const message = Buffer.allocUnsafe(FANOUT_SIZE);
  message.writeUInt32BE(identity, 0);
  message.writeUInt32BE(seq, 4);
  const from = bodyOffset(identity, seq);
  pattern.copy(message, 8, from, from + BODY);
  return message;
}

/** The payload that ends every stream. */
export function fanoutEnd(firstTimed: number, count: number): Buffer {
  const end = Buffer.allocUnsafe(END_SIZE);
  end.writeUInt32BE(firstTimed, 0);
  end.writeUInt32BE(count, 4);
  return end;
}

/** The framed greeting a client connection opens with. */
export function fanoutHello(identity: number): Buffer {
  const hello = Buffer.allocUnsafe(4 + HELLO_SIZE);
  hello.writeUInt32BE(HELLO_SIZE, 0);
  hello.writeUInt32BE(identity, 4);
  return hello;
}

/** A check that failed: the client reports it and the measurement fails. */
export class FanoutMismatch extends Error {}

function hex(bytes: Buffer): string {
  return bytes.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

export interface FanoutEvents {
  /** Message `seq` passed every check (called once per message, first delivery timing). */
  delivered(seq: number): void;
  /** The stream ended after `count` messages, the first timed one being `firstTimed`. */
  ended(firstTimed: number, count: number): void;
}

/**
 * Decodes and checks one connection's stream: each frame is checked where it lies in the chunk,
 * or, when it spans chunks, once it has been gathered in a buffer of its own.
 */
export class FanoutChecker {
  /** The next sequence number expected. */
  seq = 0;
  ended = false;
  private readonly expectedIdentity: number;
  private readonly gathered = Buffer.allocUnsafe(4 + FANOUT_SIZE);
  /** Bytes of the current frame held in `gathered`. */
  private have = 0;
  /** Length of the current frame's payload, once its header is in; otherwise -1. */
  private length = -1;

  constructor(
    /** The client's own number for this connection, as sent in its greeting. */
    readonly identity: number,
    broadcast: boolean,
    private readonly events: FanoutEvents,
  ) {
    this.expectedIdentity = broadcast ? BROADCAST : identity;
  }

  /** Checks the next bytes of the stream; throws FanoutMismatch at the first wrong one. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) {
        this.fail(
          `${chunk.length - at} byte(s) after the end of the stream: ${hex(chunk.subarray(at, at + 16))}`,
        );
      }
      if (this.have === 0 && chunk.length - at >= 4) {
        const length = this.checkLength(chunk, at);
        if (chunk.length - at - 4 >= length) {
          this.frame(chunk, at + 4, length);
          at += 4 + length;
          continue;
        }
      }
      // The frame spans chunks: gather it.
      const wanted = (this.length < 0 ? 4 : 4 + this.length) - this.have;
      const take = Math.min(wanted, chunk.length - at);
      chunk.copy(this.gathered, this.have, at, at + take);
      this.have += take;
      at += take;
      if (this.length < 0 && this.have === 4) {
        this.length = this.checkLength(this.gathered, 0);
      }
      if (this.length >= 0 && this.have === 4 + this.length) {
        const length = this.length;
        this.have = 0;
        this.length = -1;
        this.frame(this.gathered, 4, length);
      }
    }
  }

  /** Where the stream stands, for the report on a stalled one. */
  describe(): string {
    return `connection ${this.identity}: ${this.seq} message(s) checked${this.ended ? ', ended' : ''}${this.have > 0 ? `, ${this.have} byte(s) of the next frame in` : ''}`;
  }

  /** The length in the frame header at `at`, which must be a message's or the end's. */
  private checkLength(data: Buffer, at: number): number {
    const length = data.readUInt32BE(at);
    if (length !== FANOUT_SIZE && length !== END_SIZE) {
      this.fail(
        `after ${this.seq} good message(s), a frame header says ${length} bytes (${hex(data.subarray(at, at + 12))} …), expected ${FANOUT_SIZE} (or ${END_SIZE} for the end)`,
      );
    }
    return length;
  }

  private frame(data: Buffer, at: number, length: number): void {
    if (length === END_SIZE) {
      const firstTimed = data.readUInt32BE(at);
      const count = data.readUInt32BE(at + 4);
      if (count !== this.seq || firstTimed > count) {
        this.fail(`the end says ${count} messages (timed from ${firstTimed}), ${this.seq} arrived`);
      }
      this.ended = true;
      this.events.ended(firstTimed, count);
      return;
    }
    const identity = data.readUInt32BE(at);
    const seq = data.readUInt32BE(at + 4);
    if (identity !== this.expectedIdentity || seq !== this.seq) {
      this.fail(
        `expected message ${this.seq} for ${this.label(this.expectedIdentity)}, got message ${seq} for ${this.label(identity)}`,
      );
    }
    const from = bodyOffset(identity, seq);
    if (data.compare(pattern, from, from + BODY, at + 8, at + FANOUT_SIZE) !== 0) {
      let first = 0;
      while (data[at + 8 + first] === pattern[from + first]) first++;
      const mismatched = (length: number): Buffer => data.subarray(at + 8 + first, at + 8 + first + length);
      this.fail(
        `message ${seq}: payload byte ${8 + first} is wrong (got ${hex(mismatched(8))}, expected ${hex(pattern.subarray(from + first, from + first + 8))})`,
      );
    }
    this.seq++;
    this.events.delivered(seq);
  }

  private label(identity: number): string {
    return identity === BROADCAST ? 'every connection' : `connection ${identity}`;
  }

  private fail(what: string): never {
    throw new FanoutMismatch(`connection ${this.identity}: ${what}`);
  }
}
