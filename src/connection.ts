import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import {
  IdleTimeoutError,
  IncompleteMessageError,
  MessageTimeoutError,
  NotConnectedError,
  SlowConsumerError,
  SocketError,
  type SockframeError,
} from './errors';
import { MessageAssembler } from './framing/assembler';
import type { Framing, FramingOption, LengthFraming } from './framing/framing';
import { releaseRegion, WriteBatch } from './write-batch';

/** Why a connection closed. `error` carries the fault, which was also reported as an 'error'. */
export type CloseReason =
  | { readonly kind: 'peer-ended' }
  | { readonly kind: 'closed' }
  | { readonly kind: 'server-closing' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'error'; readonly error: SockframeError };

export type CloseKind = CloseReason['kind'];

/** What one connection does with its stream; resolved once by its server or client. */
export interface ConnectionSettings {
  framing: FramingOption;
  maxMessageSize: number;
  maxPendingBytes: number;
  /** 0 = off. */
  idleTimeout: number;
  /** 0 = off. */
  messageTimeout: number;
}

/** Where a connection reports; set by the server or client that owns it. */
export interface ConnectionHandlers {
  message(message: Buffer): void;
  error(err: SockframeError): void;
  close(reason: CloseReason): void;
}

export interface ConnectionEvents {
  /** Unsent bytes fell back under the high-water mark after send() returned false. */
  drain: () => void;
  /** The connection closed; emitted after the owner's 'close'. */
  close: (reason: CloseReason) => void;
}

/** Counters of one connection. */
export interface ConnectionStats {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** When the connection was established (ms since the epoch). */
  readonly connectedAt: number;
}

/** The payloads send() accepts; strings are sent as UTF-8. */
export type Payload = Buffer | Uint8Array | string;

/** Unsent bytes at which send() starts returning false. */
export const WRITE_HIGH_WATER_MARK = 256 * 1024;
/** A tick's batch is handed to the socket early once it reaches this size. */
const BATCH_FLUSH_BYTES = 64 * 1024;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;
type State = typeof OPEN | typeof CLOSING | typeof CLOSED;

/**
 * One peer of a stream server or a stream client. Reads are cut into messages by the framing;
 * writes of one tick are batched into as few system calls as possible. A connection never emits
 * 'error': its owner reports every fault as `(err, conn)` and the connection then closes.
 */
export class Connection<Data = unknown> extends TypedEmitter<ConnectionEvents> {
  /** Unique among the connections of its server. */
  readonly id: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** A slot for the application's own per-connection state. */
  data: Data | undefined = undefined;

  private readonly socket: Socket;
  private readonly assembler: MessageAssembler;
  private readonly framing: Framing;
  private readonly handlers: ConnectionHandlers;
  private readonly log: Logger;
  private readonly maxPendingBytes: number;
  private readonly messageTimeout: number;
  private readonly connectedAt = Date.now();

  private state: State = OPEN;
  private discarding = false;
  private closeKind: CloseKind | undefined;
  private failure: SockframeError | undefined;
  private readonly batch = new WriteBatch(() => this.flush());
  /** The framing's in-place header writer, when it has one (the fast path of send()). */
  private readonly headerFraming: HeaderFraming | undefined;
  private flushQueued = false;
  private needDrain = false;
  private messageTimer: NodeJS.Timeout | undefined;
  private messagesAtTimerStart = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  /** @internal Created by servers and clients; not constructed by users. */
  constructor(
    id: number,
    socket: Socket,
    settings: ConnectionSettings,
    handlers: ConnectionHandlers,
    log: Logger,
  ) {
    super();
    this.id = id;
    this.socket = socket;
    this.handlers = handlers;
    this.log = log;
    this.maxPendingBytes = settings.maxPendingBytes;
    this.messageTimeout = settings.messageTimeout;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.remoteFamily = socket.remoteFamily;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.assembler = new MessageAssembler({
      framing: settings.framing,
      maxMessageSize: settings.maxMessageSize,
      onMessage: (message) => {
        // Nothing more is delivered once the connection was failed or destroyed mid-chunk.
        if (this.discarding) return;
        this.messagesIn++;
        this.handlers.message(message);
      },
      onError: (err) => this.fail(err),
    });
    this.framing = this.assembler.activeFraming;
    this.headerFraming = hasHeaderWriter(this.framing) ? this.framing : undefined;

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.fail(new SocketError(err)));
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.onSocketDrain());
    if (settings.idleTimeout > 0) {
      socket.setTimeout(settings.idleTimeout);
      socket.on('timeout', () => this.fail(new IdleTimeoutError(settings.idleTimeout)));
    }
  }

  /** True until close() or destroy() is called or the peer goes away. */
  get isOpen(): boolean {
    return this.state === OPEN;
  }

  /** Bytes queued for this peer and not yet written to the network. */
  get pendingBytes(): number {
    return this.batch.bytes + this.socket.writableLength;
  }

  get stats(): ConnectionStats {
    return {
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut + this.batch.bytes,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      connectedAt: this.connectedAt,
    };
  }

  /**
   * Frames and queues one message. Returns false when the caller should wait for 'drain'.
   * Throws ERR_NOT_CONNECTED once the connection is closing or closed. When the peer lets more
   * than `maxPendingBytes` pile up, the connection is destroyed with ERR_SLOW_CONSUMER.
   */
  send(payload: Payload): boolean {
    if (this.state !== OPEN) {
      throw new NotConnectedError(
        this.state === CLOSING ? `Connection ${this.id} is closing` : `Connection ${this.id} is closed`,
      );
    }
    const headerFraming = this.headerFraming;
    if (headerFraming !== undefined) {
      this.batch.frame(headerFraming, Buffer.isBuffer(payload) ? payload : toBuffer(payload));
    } else {
      this.queueEncoded(encodePayload(this.framing, payload));
    }
    this.messagesOut++;
    return this.afterQueue();
  }

  /** @internal Queues already-framed bytes (shared by broadcast, which encodes once). */
  sendEncoded(parts: Buffer | readonly Buffer[]): boolean {
    if (this.state !== OPEN) throw new NotConnectedError(`Connection ${this.id} is not open`);
    this.queueEncoded(parts);
    this.messagesOut++;
    return this.afterQueue();
  }

  private queueEncoded(encoded: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(encoded)) this.batch.append(encoded);
    else for (const part of encoded) this.batch.append(part);
  }

  /** Flushes what is queued, ends the stream, and resolves once the socket has closed. */
  close(): Promise<void> {
    this.beginClose('closed');
    return this.closed;
  }

  /** Closes at once, dropping unsent bytes. With an error, it is reported first. */
  destroy(err?: SockframeError): void {
    if (err !== undefined) {
      this.fail(err);
      return;
    }
    if (this.state === CLOSED) return;
    this.closeKind ??= 'closed';
    this.state = CLOSING;
    this.discarding = true;
    this.socket.destroy();
  }

  /** @internal A graceful close started by the owner (server shutdown). */
  closeFor(kind: CloseKind): Promise<void> {
    this.beginClose(kind);
    return this.closed;
  }

  /** @internal Resolves when the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  /** @internal Used by owners to expose the raw socket for options such as noDelay. */
  get rawSocket(): Socket {
    return this.socket;
  }

  // ------------------------------------------------------------------ reading

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.assembler.push(chunk);
    if (this.messageTimeout > 0 && this.state !== CLOSED) this.trackMessageTimeout();
  }

  /** Times the message in progress, restarting the clock when a new one begins. */
  private trackMessageTimeout(): void {
    if (this.assembler.bufferedBytes === 0) {
      if (this.messageTimer !== undefined) {
        clearTimeout(this.messageTimer);
        this.messageTimer = undefined;
      }
      return;
    }
    const delivered = this.assembler.messageCount;
    if (this.messageTimer === undefined) {
      this.messageTimer = setTimeout(
        () => this.fail(new MessageTimeoutError(this.messageTimeout)),
        this.messageTimeout,
      );
      this.messageTimer.unref();
    } else if (delivered !== this.messagesAtTimerStart) {
      this.messageTimer.refresh();
    }
    this.messagesAtTimerStart = delivered;
  }

  private onEnd(): void {
    const partial = this.assembler.bufferedBytes;
    if (partial > 0 && this.failure === undefined) {
      this.fail(new IncompleteMessageError(partial));
      return;
    }
    // The peer finished sending; answer what is queued, then end our side too.
    this.beginClose('peer-ended');
  }

  // ------------------------------------------------------------------ writing

  private afterQueue(): boolean {
    const queued = this.batch.bytes;
    const pending = queued + this.socket.writableLength;
    if (pending > this.maxPendingBytes) {
      this.fail(new SlowConsumerError(pending, this.maxPendingBytes));
      return false;
    }
    if (queued >= BATCH_FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(flushConnection, this);
    }
    if (pending >= WRITE_HIGH_WATER_MARK) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** @internal Hands the batch to the socket in as few writes as possible. */
  flush(): void {
    this.flushQueued = false;
    const bytes = this.batch.bytes;
    if (bytes === 0) return;
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      this.batch.clear();
      return;
    }
    const { parts, slabs } = this.batch.take();
    this.bytesOut += bytes;
    if (parts.length === 1) {
      socket.write(parts[0] as Buffer);
    } else {
      socket.cork();
      for (const part of parts) socket.write(part);
      socket.uncork();
    }
    if (socket.writableLength === 0) {
      // Everything went to the kernel at once: the slab regions can be reused right away.
      // Otherwise the socket still holds them and they are left to the garbage collector.
      for (const slab of slabs) if (slab !== undefined) releaseRegion(slab);
      if (this.needDrain) this.emitDrain();
    }
  }

  private onSocketDrain(): void {
    if (this.needDrain && this.batch.bytes === 0) this.emitDrain();
  }

  private emitDrain(): void {
    this.needDrain = false;
    this.emit('drain');
  }

  // ------------------------------------------------------------------ closing

  private beginClose(kind: CloseKind): void {
    if (this.state !== OPEN) return;
    this.state = CLOSING;
    this.closeKind = kind;
    this.flush();
    this.socket.end();
  }

  /** A fault: report it once, then close at once. */
  private fail(err: SockframeError): void {
    if (this.failure !== undefined || this.state === CLOSED) return;
    this.failure = err;
    this.closeKind = 'error';
    this.state = CLOSING;
    this.discarding = true;
    this.handlers.error(err);
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    if (this.messageTimer !== undefined) clearTimeout(this.messageTimer);
    this.messageTimer = undefined;
    this.batch.clear();
    const reason: CloseReason =
      this.failure !== undefined
        ? { kind: 'error', error: this.failure }
        : { kind: closeKindWithoutError(this.closeKind) };
    this.log.info(
      {
        reason: reason.kind,
        error: this.failure?.code,
        durationMs: Date.now() - this.connectedAt,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        messagesIn: this.messagesIn,
        messagesOut: this.messagesOut,
      },
      'connection closed',
    );
    this.handlers.close(reason);
    this.emit('close', reason);
    this.resolveClosed();
  }
}

function closeKindWithoutError(kind: CloseKind | undefined): Exclude<CloseKind, 'error'> {
  return kind === undefined || kind === 'error' ? 'peer-ended' : kind;
}

function flushConnection(connection: Connection<unknown>): void {
  connection.flush();
}

/** Turns a payload into framed bytes. */
export function encodePayload(framing: Framing, payload: Payload): Buffer | readonly Buffer[] {
  const buffer = toBuffer(payload);
  return framing.encode ? framing.encode(buffer) : buffer;
}

/** A payload as a Buffer, without copying Buffers and Uint8Arrays; strings as UTF-8. */
export function toBuffer(payload: Payload): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new TypeError('A payload must be a Buffer, a Uint8Array or a string.');
}

type HeaderFraming = LengthFraming & { encodeHeader(n: number, target: Buffer, offset: number): number };

function hasHeaderWriter(framing: Framing): framing is HeaderFraming {
  return typeof (framing as LengthFraming).encodeHeader === 'function';
}
