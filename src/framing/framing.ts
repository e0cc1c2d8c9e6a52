/**
 * The header-length hook: how a byte stream is cut into messages.
 *
 * A framing either measures (`LengthFraming`: read the header, say how long the message is) or
 * scans (`ScanFraming`: look for a terminator). The assembler does all the buffering for both.
 */

/** Returned by `messageLength` when the header is incomplete (variable-length headers). */
export const NEED_MORE: unique symbol = Symbol.for('sockframe.NEED_MORE');

/** A per-message answer of `messageLength`: the whole length and how many front bytes to cut. */
export interface FrameLength {
  /** The whole message's length in bytes, header included. */
  readonly length: number;
  /** Bytes cut from the front before delivery; overrides `Framing.strip` for this message. */
  readonly strip?: number;
}

/** The header-length hook. */
export interface LengthFraming {
  /** Bytes the hook must see before it can decide; the assembler never calls it with fewer. */
  readonly headerSize: number;
  /**
   * Given the first bytes of a message (at least `headerSize`, contiguous; possibly more),
   * returns the whole message's length in bytes, header included, or `{ length, strip }`,
   * or `NEED_MORE` to be called again once more bytes have arrived.
   *
   * `seen` is how many of these bytes the hook was shown when it last answered `NEED_MORE` for
   * this message (0 on the first call): a hook that searches its header (for a terminator, say)
   * can resume there instead of starting over, so that a long header arriving in small reads
   * costs linear time. While undecided, a hook is shown at most `maxHeaderBytes` (64 KiB by
   * default) and never more than the frame limit, however the stream is split.
   */
  messageLength(head: Buffer, seen?: number): number | FrameLength | typeof NEED_MORE;
  /**
   * Optional fast path: the same answer as `messageLength(buffer.subarray(offset), seen)`,
   * without creating a view. The assembler prefers it when present; `buffer.length - offset` is
   * at least `headerSize`.
   */
  messageLengthAt?(buffer: Buffer, offset: number, seen?: number): number | FrameLength | typeof NEED_MORE;
  /**
   * Bytes cut from the front of each message before delivery.
   * @default 0
   */
  readonly strip?: number;
  /** The largest frame this framing accepts; the smaller of this and the owner's limit applies. */
  readonly maxMessageSize?: number;
  /** Frames an outgoing payload. Without it, `send()` writes the payload as it is. */
  encode?(payload: Buffer): Buffer | readonly Buffer[];
  /**
   * Optional fast path for framings whose encoding is a header followed by the payload: writes
   * the header for a payload of `payloadLength` bytes into `target` at `offset` and returns its
   * size (at most `maxHeaderSize`). It must write exactly what `encode` puts before the payload.
   * With it, send() writes small messages straight into its batch buffer.
   */
  encodeHeader?(payloadLength: number, target: Buffer, offset: number): number;
  /** The most bytes encodeHeader writes; required with encodeHeader. */
  readonly maxHeaderSize?: number;
}

/** Finds the end of a message inside a stream, resuming where it stopped. */
export interface FrameScanner {
  /**
   * Scans `bytes`, which follow directly on the bytes of earlier calls since the last message
   * end. Returns the index in `bytes` just past the message's terminator, or -1 when the
   * message has not ended within `bytes`. Each byte is given to it exactly once.
   */
  scan(bytes: Buffer): number;
  /** Forgets any partial match: the next byte given starts a new message. */
  reset(): void;
  /**
   * For terminators whose length varies (`\n` or `\r\n`): the terminator length of the message
   * the last `scan()` ended, read right after it. Without it, the framing's `trailer` applies.
   */
  readonly lastTrailer?: number;
}

/** A framing that finds message ends by scanning (delimiters). */
export interface ScanFraming {
  /** Creates the per-stream scanning state. */
  createScanner(): FrameScanner;
  /** Bytes cut from the end of each message before delivery (the delimiter's length). */
  readonly trailer: number;
  /** The largest frame this framing accepts, terminator included. */
  readonly maxMessageSize?: number;
  /** Frames an outgoing payload. */
  encode?(payload: Buffer): Buffer | readonly Buffer[];
}

/** Any framing the assembler, the servers and the clients accept. */
export type Framing = LengthFraming | ScanFraming;

/** A factory giving each connection its own framing, for hooks that keep state. */
export type FramingFactory = () => Framing;

/** The `framing` option of servers, clients and the assembler. */
export type FramingOption = Framing | FramingFactory;

export function isScanFraming(framing: Framing): framing is ScanFraming {
  return typeof (framing as ScanFraming).createScanner === 'function';
}

/** Resolves a framing option to the framing one stream uses. */
export function resolveFraming(option: FramingOption): Framing {
  const framing = typeof option === 'function' ? option() : option;
  validateFraming(framing);
  return framing;
}

/** Throws a TypeError when `framing` cannot be used. */
export function validateFraming(framing: unknown): asserts framing is Framing {
  if (typeof framing !== 'object' || framing === null) {
    throw new TypeError('The "framing" option must be a Framing object or a function returning one.');
  }
  const f = framing as Partial<LengthFraming & ScanFraming>;
  if (typeof f.createScanner === 'function') {
    if (!Number.isInteger(f.trailer) || (f.trailer as number) < 0) {
      throw new TypeError('A scanning framing\'s "trailer" must be a non-negative integer.');
    }
    return;
  }
  if (typeof f.messageLength !== 'function') {
    throw new TypeError('A framing must have a messageLength(head) function or a createScanner() function.');
  }
  if (!Number.isInteger(f.headerSize) || (f.headerSize as number) < 1) {
    throw new TypeError('A framing\'s "headerSize" must be an integer of at least 1.');
  }
  if (f.strip !== undefined && (!Number.isInteger(f.strip) || f.strip < 0)) {
    throw new TypeError('A framing\'s "strip" must be a non-negative integer.');
  }
  if (f.encode !== undefined && typeof f.encode !== 'function') {
    throw new TypeError('A framing\'s "encode" must be a function when given.');
  }
  if (
    f.encodeHeader !== undefined &&
    (!Number.isInteger(f.maxHeaderSize) || (f.maxHeaderSize as number) < 1)
  ) {
    throw new TypeError('A framing with "encodeHeader" must give "maxHeaderSize", a positive integer.');
  }
}

/** Encodes a payload with the framing, or passes it through when the framing has no encoder. */
export function encodeWith(framing: Framing, payload: Buffer): Buffer | readonly Buffer[] {
  return framing.encode ? framing.encode(payload) : payload;
}
