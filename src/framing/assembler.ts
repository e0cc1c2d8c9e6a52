import { Buffer } from 'node:buffer';
import {
  FrameTooLargeError,
  FramingHookError,
  InvalidFrameLengthError,
  ListenerError,
  SockframeError,
} from '../errors';
import {
  NEED_MORE,
  isScanFraming,
  resolveFraming,
  type FrameScanner,
  type Framing,
  type FramingOption,
  type LengthFraming,
} from './framing';
import { fourByteField, lengthField } from './length-field';
import { checkOptionKeys, checkSize, optionKeys } from '../options';

/** 16 MiB: the default limit on one whole frame, header included. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;
/** 64 KiB: the default limit on the bytes a framing hook may see without deciding. */
export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;

export interface MessageAssemblerOptions {
  /**
   * How the stream is cut into messages; a factory is called once for this assembler.
   * @default lengthField()
   */
  framing?: FramingOption;
  /**
   * The largest frame accepted, header included, checked as soon as its length is known.
   * @default 16 MiB
   */
  maxMessageSize?: number;
  /**
   * The most bytes a framing hook may be shown while it cannot decide (answers `NEED_MORE`):
   * a header still undecided past it is refused with ERR_INVALID_FRAME_LENGTH. Only
   * variable-length headers are concerned.
   * @default 64 KiB
   */
  maxHeaderBytes?: number;
  /** Receives each whole message. A message inside one pushed chunk is a view of that chunk. */
  onMessage: (message: Buffer) => void;
  /** Receives the first framing error; after it the assembler delivers nothing more. */
  onError: (err: SockframeError) => void;
}

const ASSEMBLER_KEYS = optionKeys<MessageAssemblerOptions>()(
  'framing',
  'maxMessageSize',
  'maxHeaderBytes',
  'onMessage',
  'onError',
);

/** Bytes of a straddling header copied at once, so NEED_MORE hooks cost amortised linear time. */
const MIN_HEAD_COPY = 64;
/**
 * Pieces of an incomplete message smaller than this are copied into an accumulation buffer
 * instead of being held as they came: a peer sending one byte per segment would otherwise make
 * the assembler hold a Buffer object, an ArrayBuffer and an allocation per byte.
 */
const COALESCE_BELOW = 1024;
/**
 * The first pieces of a message are held as they came (a header split in two costs no copy);
 * small pieces after these are coalesced.
 */
const HELD_AS_THEY_CAME = 8;
/** Accumulation buffers start at COALESCE_BELOW and double with the bytes held, up to this. */
const MAX_ACCUMULATOR = 64 * 1024;

/**
 * Turns a byte stream into whole messages.
 *
 * Bytes of a message that is still incomplete are kept as a list of chunks and copied exactly
 * once, into the delivered message, when its last byte arrives; messages that lie inside one
 * chunk are delivered as views of it. Cost is linear in the bytes pushed however they are split.
 */
export class MessageAssembler {
  private readonly framing: Framing;
  private readonly limit: number;
  /** The most bytes a hook is shown: the smaller of the frame limit and maxHeaderBytes. */
  private readonly headLimit: number;
  private readonly onMessage: (message: Buffer) => void;
  private readonly onError: (err: SockframeError) => void;

  // Length framing state.
  private readonly lengthFraming: LengthFraming | undefined;
  private readonly headerSize: number;
  private readonly defaultStrip: number;
  /** Bytes the hook asked to see before deciding (grows on NEED_MORE). */
  private need: number;
  /** Bytes the hook was shown when it last answered NEED_MORE for this frame (0: not yet). */
  private seen = 0;
  /** Whole length of the pending frame, or -1 while its header is incomplete. */
  private frameLength = -1;
  private frameStrip = 0;
  /**
   * For lengthField() framings with a 4-byte field, read inline: the field's offset in the
   * frame (-1 for any other framing), whether it is little-endian, and what is added to it.
   */
  private readonly fieldOffset: number;
  private readonly fieldLittle: boolean;
  private readonly fieldExtra: number;

  // Scan framing state.
  private readonly scanner: FrameScanner | undefined;
  private readonly trailer: number;

  /** Bytes of the incomplete message, in arrival order (the shared NO_PARTS while there are none). */
  private pending: Buffer[] = NO_PARTS;
  private pendingBytes = 0;
  /**
   * Where small pieces are copied; when `accumulating`, the last pending part is the view
   * [accStart, accUsed) of it. Never handed out: a message spanning reads is copied out of it.
   */
  private acc: Buffer = EMPTY;
  private accStart = 0;
  private accUsed = 0;
  private accumulating = false;
  /**
   * The front of the pending frame, copied contiguously for a hook that answered NEED_MORE.
   * It only grows while the frame is undecided, so each byte is copied into it once (plus
   * amortised regrowth), however finely the stream is split.
   */
  private head: Buffer = EMPTY;
  private headFilled = 0;
  /** Where copying into `head` resumes: a pending part (or, at pending.length, the chunk) and an offset in it. */
  private headPart = 0;
  private headPartOffset = 0;
  private failure: SockframeError | null = null;
  /** Bumped by reset(), so a delivery loop notices a reset from inside a callback. */
  private generation = 0;
  private delivered = 0;

  constructor(options: MessageAssemblerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('MessageAssembler needs an options object with onMessage and onError.');
    }
    checkOptionKeys('MessageAssembler', options, ASSEMBLER_KEYS);
    if (typeof options.onMessage !== 'function') {
      throw new TypeError('The "onMessage" option must be a function.');
    }
    if (typeof options.onError !== 'function') {
      throw new TypeError('The "onError" option must be a function.');
    }
    const framing = resolveFraming(options.framing ?? lengthField());
    const ownLimit = checkSize('maxMessageSize', options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    this.framing = framing;
    this.limit = Math.min(ownLimit, framing.maxMessageSize ?? Infinity);

    this.onMessage = options.onMessage;
    this.onError = options.onError;
    if (isScanFraming(framing)) {
      this.scanner = framing.createScanner();
      this.trailer = framing.trailer;
      this.lengthFraming = undefined;
      this.headerSize = 0;
      this.defaultStrip = 0;
    } else {
      this.scanner = undefined;
      this.trailer = 0;
      this.lengthFraming = framing;
      this.headerSize = framing.headerSize;
      this.defaultStrip = framing.strip ?? 0;
    }
    const field = fourByteField(framing);
    this.fieldOffset = field === undefined ? -1 : field.lengthOffset;
    this.fieldLittle = field?.endian === 'little';
    this.fieldExtra = field === undefined ? 0 : field.headerSize + field.lengthAdjustment;
    this.need = this.headerSize;
    // Never fewer than the hook's own header: what it measures past the limit is too large.
    this.headLimit = Math.max(
      this.headerSize,
      Math.min(this.limit, checkSize('maxHeaderBytes', options.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES)),
    );
  }

  /** The largest frame this assembler accepts (the smaller of its own and the framing's limit). */
  get maxMessageSize(): number {
    return this.limit;
  }

  /** Bytes held for a message that has not completed yet. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** How many messages have been delivered since construction. */
  get messageCount(): number {
    return this.delivered;
  }

  /** The error that stopped this assembler, or null. */
  get error(): SockframeError | null {
    return this.failure;
  }

  /** The framing in use (resolved from a factory when one was given). */
  get activeFraming(): Framing {
    return this.framing;
  }

  /**
   * Feeds bytes in; whole messages come out through onMessage, in order. After a framing error,
   * or an onMessage that threw, pushes are ignored until reset(): the rest of that chunk was not
   * parsed, so the stream's position is lost. What onMessage threw is rethrown to the caller of
   * push(), and `error` holds it as ERR_LISTENER_THREW (onError is not called for it).
   */
  push(chunk: Buffer): void {
    if (this.failure !== null || chunk.length === 0) return;
    // One try per chunk, not per message: the loops inside stay as they are.
    try {
      if (this.scanner !== undefined) this.pushScanned(chunk, this.scanner);
      else this.pushMeasured(chunk);
    } catch (err) {
      this.stop(new ListenerError('onMessage', err));
      throw err;
    }
  }

  /** Drops any partial message and any error (a framing error or a throwing onMessage), ready for a new stream. */
  reset(): void {
    this.generation++;
    this.pending = NO_PARTS;
    this.pendingBytes = 0;
    this.dropAccumulator();
    this.forgetHead();
    this.frameLength = -1;
    this.frameStrip = 0;
    this.need = this.headerSize;
    this.seen = 0;
    this.failure = null;
    this.scanner?.reset();
  }

  // ---------------------------------------------------------------- length framing

  private pushMeasured(chunk: Buffer): void {
    const generation = this.generation;
    let offset = 0;
    if (this.pendingBytes > 0) {
      offset = this.completePending(chunk);
      if (offset < 0 || generation !== this.generation || this.failure !== null) return;
    }
    const headerSize = this.headerSize;
    const size = chunk.length;
    const fieldOffset = this.fieldOffset;
    // Fast path: frames that lie wholly inside this chunk are parsed in place.
    while (offset < size) {
      const available = size - offset;
      if (available < headerSize) break;
      let length: number;
      if (fieldOffset >= 0) {
        // lengthField()'s own hook, inlined; any answer out of the ordinary goes to measure().
        const at = offset + fieldOffset;
        length =
          (this.fieldLittle
            ? (chunk[at + 3] as number) * 0x1000000 +
              (((chunk[at + 2] as number) << 16) | ((chunk[at + 1] as number) << 8) | (chunk[at] as number))
            : (chunk[at] as number) * 0x1000000 +
              (((chunk[at + 1] as number) << 16) |
                ((chunk[at + 2] as number) << 8) |
                (chunk[at + 3] as number))) + this.fieldExtra;
        if (length >= headerSize && length <= this.limit && this.defaultStrip <= length) {
          this.frameStrip = this.defaultStrip;
        } else {
          length = this.measure(chunk, offset, available);
        }
      } else {
        length = this.measure(chunk, offset, available);
      }
      if (length < 0) {
        if (length === FAILED || this.undecided(Math.min(available, this.headLimit))) return;
        break;
      }
      if (length > available) {
        this.frameLength = length;
        break;
      }
      this.delivered++;
      this.onMessage(chunk.subarray(offset + this.frameStrip, offset + length));
      offset += length;
      // A reset() from inside onMessage ends this loop; measure() failures return above.
      if (generation !== this.generation) return;
    }
    if (offset < size) this.keep(offset === 0 ? chunk : chunk.subarray(offset));
  }

  /**
   * The hook answered NEED_MORE after seeing `shown` bytes: it is asked again once one more byte
   * is there, unless that would pass a limit. Returns true when the stream failed. Decided by
   * `shown` alone, so the same bytes give the same error however the stream is split.
   */
  private undecided(shown: number): boolean {
    this.seen = shown;
    this.need = shown + 1;
    if (this.need > this.limit) {
      this.fail(new FrameTooLargeError(this.need, this.limit));
      return true;
    }
    if (this.need > this.headLimit) {
      this.fail(
        new InvalidFrameLengthError(
          `The framing hook could not decide the frame's length from ${shown} header bytes (maxHeaderBytes)`,
          shown,
        ),
      );
      return true;
    }
    return false;
  }

  /**
   * Completes the pending frame with bytes of `chunk`. Returns the offset in `chunk` after it,
   * or -1 when the whole chunk was kept (frame still incomplete) or the stream failed.
   */
  private completePending(chunk: Buffer): number {
    for (;;) {
      const total = this.pendingBytes + chunk.length;
      if (this.frameLength < 0) {
        if (total < this.need) return this.keep(chunk);
        const headLength = Math.min(
          total,
          this.headLimit,
          Math.max(this.need, MIN_HEAD_COPY, 2 * (this.need - 1)),
        );
        const measured = this.measure(this.gather(headLength, chunk), 0, headLength);
        if (measured === FAILED) return -1;
        if (measured === UNDECIDED) {
          if (this.undecided(headLength)) return -1;
          continue;
        }
        this.frameLength = measured;
      }
      const length = this.frameLength;
      if (total < length) return this.keep(chunk);
      const fromChunk = length - this.pendingBytes;
      const message = this.copyFrame(length, this.frameStrip, 0, chunk);
      this.clearPending();
      this.deliver(message);
      return fromChunk;
    }
  }

  /**
   * Asks the hook for the frame's length from the `available` bytes at `offset` (of which it is
   * shown at most headLimit, so that what it decides does not depend on how the stream was split)
   * and validates the answer. Returns the length (and sets frameStrip), or UNDECIDED, or FAILED
   * after reporting the error.
   */
  private measure(buffer: Buffer, offset: number, available: number): number {
    let answer: ReturnType<LengthFraming['messageLength']>;
    const framing = this.lengthFraming as LengthFraming;
    if (available > this.headLimit) {
      buffer = buffer.subarray(offset, offset + this.headLimit);
      offset = 0;
    }
    try {
      answer =
        framing.messageLengthAt !== undefined
          ? framing.messageLengthAt(buffer, offset, this.seen)
          : framing.messageLength(offset === 0 ? buffer : buffer.subarray(offset), this.seen);
    } catch (err) {
      this.fail(err instanceof SockframeError ? err : new FramingHookError(err));
      return FAILED;
    }
    let length: unknown;
    let strip: unknown = this.defaultStrip;
    if (typeof answer === 'number') {
      // The common case: a plain, sane length with the framing's own strip.
      if (
        Number.isInteger(answer) &&
        answer >= this.need &&
        answer <= this.limit &&
        this.defaultStrip <= answer
      ) {
        this.frameStrip = this.defaultStrip;
        return answer;
      }
      length = answer;
    } else if (answer === NEED_MORE) {
      return UNDECIDED;
    } else if (typeof answer === 'object' && answer !== null) {
      length = answer.length;
      if (answer.strip !== undefined) strip = answer.strip;
    } else {
      length = answer;
    }
    if (length === Infinity) {
      // A length past 2^53 (an 8-byte field, a 10-byte varint) cannot be exact: it is Infinity.
      this.fail(new FrameTooLargeError(Infinity, this.limit));
      return FAILED;
    }
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
      this.fail(
        new InvalidFrameLengthError(
          `Framing hook returned ${String(length)}; a frame length must be a non-negative integer`,
          length,
        ),
      );
      return FAILED;
    }
    if (length > this.limit) {
      this.fail(new FrameTooLargeError(length, this.limit));
      return FAILED;
    }
    if (length < this.need) {
      this.fail(
        new InvalidFrameLengthError(
          `Framing hook returned ${length}, shorter than the ${this.need} header bytes it needed`,
          length,
        ),
      );
      return FAILED;
    }
    if (typeof strip !== 'number' || !Number.isInteger(strip) || strip < 0 || strip > length) {
      this.fail(
        new InvalidFrameLengthError(
          `Cannot strip ${String(strip)} bytes from a frame of ${length} bytes`,
          length,
        ),
      );
      return FAILED;
    }
    this.frameStrip = strip;
    return length;
  }

  // ---------------------------------------------------------------- scan framing

  private pushScanned(chunk: Buffer, scanner: FrameScanner): void {
    const generation = this.generation;
    const size = chunk.length;
    let offset = 0;
    while (offset < size) {
      const rest = offset === 0 ? chunk : chunk.subarray(offset);
      let end: number;
      try {
        end = scanner.scan(rest);
      } catch (err) {
        return this.fail(err instanceof SockframeError ? err : new FramingHookError(err));
      }
      if (end < 0) {
        const total = this.pendingBytes + rest.length;
        if (total > this.limit) return this.fail(new FrameTooLargeError(total, this.limit));
        this.keep(rest);
        return;
      }
      if (!Number.isInteger(end) || end === 0 || end > rest.length) {
        return this.fail(
          new InvalidFrameLengthError(`Scanner returned ${end} for ${rest.length} bytes`, end),
        );
      }
      const length = this.pendingBytes + end;
      if (length > this.limit) return this.fail(new FrameTooLargeError(length, this.limit));
      const trailer = scanner.lastTrailer ?? this.trailer;
      if (length < trailer) {
        return this.fail(
          new InvalidFrameLengthError(`Frame of ${length} bytes is shorter than its terminator`, length),
        );
      }
      let message: Buffer;
      if (this.pendingBytes === 0) {
        message = rest.subarray(0, end - trailer);
      } else {
        message = this.copyFrame(length, 0, trailer, rest);
        this.clearPending();
      }
      this.deliver(message);
      offset += end;
      if (generation !== this.generation || this.failure !== null) return;
    }
  }

  // ---------------------------------------------------------------- buffering

  /** Holds `chunk` as the next bytes of the incomplete message: small pieces are copied. */
  private keep(chunk: Buffer): -1 {
    const size = chunk.length;
    if (size >= COALESCE_BELOW || this.pending.length < HELD_AS_THEY_CAME) {
      this.accumulating = false;
      if (this.pending === NO_PARTS) this.pending = [chunk];
      else this.pending.push(chunk);
    } else if (this.accumulating && this.accUsed + size <= this.acc.length) {
      const last = this.pending.length - 1;
      if (this.headPart === this.pending.length) {
        // gather() had copied the front of `chunk`, which now continues the last part.
        this.headPart = last;
        this.headPartOffset += this.accUsed - this.accStart;
      }
      chunk.copy(this.acc, this.accUsed);
      this.accUsed += size;
      this.pending[last] = this.acc.subarray(this.accStart, this.accUsed);
    } else {
      if (!this.accumulating || this.accUsed + size > this.acc.length) {
        const room = Math.min(MAX_ACCUMULATOR, Math.max(COALESCE_BELOW, this.pendingBytes));
        this.acc = Buffer.allocUnsafe(room);
        this.accUsed = 0;
      }
      this.accumulating = true;
      this.accStart = this.accUsed;
      chunk.copy(this.acc, this.accUsed);
      this.accUsed += size;
      const part = this.acc.subarray(this.accStart, this.accUsed);
      if (this.pending === NO_PARTS) this.pending = [part];
      else this.pending.push(part);
    }
    this.pendingBytes += size;
    return -1;
  }

  private clearPending(): void {
    this.pending = NO_PARTS;
    this.pendingBytes = 0;
    this.dropAccumulator();
    this.forgetHead();
    this.frameLength = -1;
    this.need = this.headerSize;
    this.seen = 0;
  }

  private dropAccumulator(): void {
    this.acc = EMPTY;
    this.accStart = 0;
    this.accUsed = 0;
    this.accumulating = false;
  }

  /**
   * The first `length` bytes of pending + chunk, contiguous. Bytes already copied for an earlier
   * NEED_MORE answer on this frame are not copied again; `chunk` is the bytes that will be kept
   * as the next pending part if the frame stays incomplete.
   */
  private gather(length: number, chunk: Buffer): Buffer {
    if (length > this.head.length) {
      const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.head.length));
      this.head.copy(grown, 0, 0, this.headFilled);
      this.head = grown;
    }
    const head = this.head;
    const pending = this.pending;
    while (this.headFilled < length) {
      const inPending = this.headPart < pending.length;
      const part = inPending ? (pending[this.headPart] as Buffer) : chunk;
      if (this.headPartOffset === part.length) {
        // Copied in full by an earlier call; the chunk only moves on once it is a pending part.
        if (!inPending) break;
        this.headPart++;
        this.headPartOffset = 0;
        continue;
      }
      const n = Math.min(part.length - this.headPartOffset, length - this.headFilled);
      part.copy(head, this.headFilled, this.headPartOffset, this.headPartOffset + n);
      this.headFilled += n;
      this.headPartOffset += n;
    }
    return head.subarray(0, length);
  }

  private forgetHead(): void {
    this.head = EMPTY;
    this.headFilled = 0;
    this.headPart = 0;
    this.headPartOffset = 0;
  }

  /**
   * Copies bytes [strip, length - trailer) of the frame made of pending + the front of `chunk`
   * into a new buffer: the single copy a spanning message costs.
   */
  private copyFrame(length: number, strip: number, trailer: number, chunk: Buffer): Buffer {
    const end = length - trailer;
    const out = Buffer.allocUnsafe(end - strip);
    let position = 0; // position in the frame of the current part's first byte
    let written = 0;
    const copyPart = (part: Buffer): void => {
      const from = Math.max(strip - position, 0);
      const to = Math.min(part.length, end - position);
      if (to > from) {
        part.copy(out, written, from, to);
        written += to - from;
      }
      position += part.length;
    };
    for (const part of this.pending) {
      if (position >= end) break;
      copyPart(part);
    }
    if (position < end) copyPart(chunk);
    return out;
  }

  private deliver(message: Buffer): void {
    this.delivered++;
    this.onMessage(message);
  }

  private fail(err: SockframeError): void {
    this.stop(err);
    this.onError(err);
  }

  /** Fail-stop: nothing more is parsed until reset(). */
  private stop(err: SockframeError): void {
    this.failure = err;
    this.pending = NO_PARTS;
    this.pendingBytes = 0;
    this.dropAccumulator();
    this.forgetHead();
    this.frameLength = -1;
  }
}

const EMPTY = Buffer.alloc(0);
/** The pending list of an assembler that holds nothing; never written to (keep() replaces it). */
const NO_PARTS: Buffer[] = [];

/** measure() results that are not a length. */
const UNDECIDED = -1;
const FAILED = -2;
