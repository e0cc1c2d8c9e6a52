import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { TypedEmitter } from 'tiny-typed-emitter';
import type { Level, Logger } from 'pino';
import {
  IdleTimeoutError,
  IncompleteMessageError,
  ListenerError,
  MessageTimeoutError,
  NotConnectedError,
  SlowConsumerError,
  SocketError,
  type SockframeError,
} from './errors';
import type { CloseKind, CloseReason } from './close-reason';
import { emitGuarded, type FaultSink } from './dispatch';
import { MessageAssembler } from './framing/assembler';
import type { Framing, FramingOption, LengthFraming } from './framing/framing';
import { resolveFraming } from './framing/framing';
import { IdleSweep } from './idle-sweep';
import { LazyChild } from './logger';
import { checkCloseTimeout, type CloseOptions } from './options';
import { encodePayload, toBuffer, WRITE_HIGH_WATER_MARK, type Payload } from './payload';
import type { MemoryBudget } from './memory-budget';
import { WriteBatch, type HeaderFraming, type SlabArena } from './write-batch';
import type { CallArgs, MethodName, NotifyArgs, ResultOf } from './rpc/json-rpc';
import type { RpcPeer } from './rpc/peer';

/** What one connection does with its stream; resolved once by its server or client. */
export interface ConnectionSettings {
  framing: FramingOption;
  maxMessageSize: number;
  maxHeaderBytes: number;
  maxPendingBytes: number;
  /** 0 = off. */
  idleTimeout: number;
  /** 0 = off. */
  messageTimeout: number;
  /** Where the write batches of the owner's connections copy small frames. */
  arena: SlabArena;
  /** Keep our side open when the peer ends its own. */
  allowHalfOpen?: boolean;
  /** The owner's bound on what all its connections hold (servers); none for clients. */
  budget?: MemoryBudget | undefined;
  /** The owner's idle sweep (with idleTimeout), made for its first connection. */
  idleSweep?: IdleSweep<Connection> | undefined;
}

/**
 * Where a connection reports; set by the server or client that owns it. The connection is passed
 * along, so that one handler object can serve every connection of a server.
 */
export interface ConnectionHandlers<Data = unknown, Remote = unknown> {
  message(message: Buffer, conn: Connection<Data, Remote>): void;
  error(err: SockframeError, conn: Connection<Data, Remote>): void;
  close(reason: CloseReason, conn: Connection<Data, Remote>): void;
  /** Unsent bytes fell back under the high-water mark; called before the connection's 'drain'. */
  drain?(conn: Connection<Data, Remote>): void;
  /** The peer ended its side and the connection stays open (allowHalfOpen); before its 'end'. */
  end?(conn: Connection<Data, Remote>): void;
}

/** A connection's logger, or the shared source of a child logger derived on its first record. */
export type ConnectionLog<Data = unknown, Remote = unknown> = Logger | LazyChild<Connection<Data, Remote>>;

export interface ConnectionEvents {
  /** Unsent bytes fell back under the high-water mark after send() returned false. */
  drain: () => void;
  /** The connection closed; emitted after the owner's 'close'. */
  close: (reason: CloseReason) => void;
  /** With allowHalfOpen: the peer ended its side; ours stays open until close(). */
  end: () => void;
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

/** Byte and message counters summed over connections (a server's or client's closed ones). */
export interface TrafficTotals {
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
}

/** Adds one connection's counters to `totals`. */
export function addTraffic(totals: TrafficTotals, stats: ConnectionStats): void {
  totals.bytesIn += stats.bytesIn;
  totals.bytesOut += stats.bytesOut;
  totals.messagesIn += stats.messagesIn;
  totals.messagesOut += stats.messagesOut;
}

/** A tick's batch is handed to the socket early once it reaches this size. */
const BATCH_FLUSH_BYTES = 64 * 1024;
/** Message ends a connection keeps room for once they are all written (more: the array is dropped). */
const MAX_KEPT_ENDS = 1024;

const OPEN = 0;
/** Closing gracefully, the write side still open while message handlers are running. */
const ENDING = 1;
/** Our side ended or the socket destroyed: send() throws. */
const CLOSING = 2;
const CLOSED = 3;
type State = typeof OPEN | typeof ENDING | typeof CLOSING | typeof CLOSED;

const NO_ARGS: readonly unknown[] = [];

/**
 * One peer of a stream server or a stream client. Reads are cut into messages by the framing;
 * writes of one tick are batched into as few system calls as possible. A connection never emits
 * 'error': its owner reports every fault as `(err, conn)` and the connection then closes.
 *
 * An idle connection is kept small, since a server may hold tens of thousands: the socket
 * listeners are shared by every connection, the assembler, the write batch, the logger and the
 * close promise are created on first use, and idleness is checked by a shared sweep instead of
 * a timer per connection.
 */
export class Connection<Data = unknown, Remote = unknown> extends TypedEmitter<ConnectionEvents> {
  // Fields the read and write paths use come first, so that they share few cache lines.
  private readonly socket: Socket;
  private readonly settings: ConnectionSettings;
  private readonly handlers: ConnectionHandlers<Data, Remote>;
  /** The framing's in-place header writer, when it has one (the fast path of send()). */
  private readonly headerFraming: HeaderFraming | undefined;
  /**
   * Settings the read and write paths check, copied here: a client's settings object is its own,
   * and reading it would touch one more cache line per message.
   */
  private readonly maxPendingBytes: number;
  private readonly budgeted: boolean;
  private readonly timesMessages: boolean;

  private state: State = OPEN;
  /** Created on the first byte read. */
  private assembler: MessageAssembler | undefined = undefined;
  /** Created on the first send. */
  private batch: WriteBatch | undefined = undefined;
  /** onData is delivering a chunk's messages: it flushes what they send once they all were. */
  private delivering = false;
  private flushQueued = false;
  /** send() returned false; 'drain' is due once every queued byte has left. */
  private needDrain = false;
  private discarding = false;
  /** pause() was called: nothing is read, and assembled messages wait in `held`. */
  private paused = false;
  private bytesIn = 0;
  private bytesOut = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  /** Bytes dropped unwritten from the batch because the socket could no longer take them. */
  private droppedBytes = 0;
  /**
   * Where the one message kept ends while it is the only one (-1: none), so that a connection
   * sending one message per turn never touches the array below.
   */
  private soleEnd = -1;
  private endsHead = 0;
  private endsTail = 0;
  /**
   * Where each message queued ends, in bytes queued since the connection opened, from
   * `endsHead` up to `endsTail` (or in `soleEnd`): kept until the socket has passed the message
   * on, so that a close can say how many were not. Emptied by every flush the socket takes whole
   * at once. The array is reused by index and never truncated (setting an array's length costs a
   * runtime call).
   */
  private messageEnds: number[] | undefined = undefined;
  /** Bytes charged to the owner's memory budget: incomplete inbound, and unsent outbound. */
  private chargedIn = 0;
  private chargedOut = 0;
  /** Passed to the last write of each flush while a 'drain' is due; made on first need. */
  private afterWrite: (() => void) | undefined = undefined;
  /** Unique among the connections of its server. */
  readonly id: number;
  /** A slot for the application's own per-connection state. */
  data: Data | undefined = undefined;
  private readonly framing: Framing;
  /** The logger, or the source it is derived from on the first record. */
  private log: ConnectionLog<Data, Remote>;
  private readonly connectedAt = Date.now();
  private closeKind: CloseKind | undefined = undefined;
  private failure: SockframeError | undefined = undefined;
  private messageTimer: NodeJS.Timeout | undefined = undefined;
  /** The close() timeout, cleared when the socket closes. */
  private closeTimer: NodeJS.Timeout | undefined = undefined;
  private messagesAtTimerStart = 0;
  /** Message handlers whose promise is pending: a graceful close keeps writing until they settle. */
  private handlersRunning = 0;
  /** Bytes of JSON-RPC requests waiting for a handler slot (holdQueued). */
  private chargedQueued = 0;
  private held: Buffer[] | undefined = undefined;
  /** The JSON-RPC state, when the owner has the `rpc` option. */
  private rpc: RpcPeer | undefined = undefined;
  /** What was unsent at the moment the socket was destroyed (the socket forgets it); until then none. */
  private unsentAtDestroy: UnsentCount | undefined = undefined;
  /**
   * The traffic signature the idle sweep saw last, and how many sweeps since then saw none (-1
   * until the first sweep, which may come at once). Both are small integers: this state is
   * written by a cold timer callback, and a float written there would change the field's
   * representation and throw away the optimised code of the hot read and write paths.
   */
  private activityMark = 0;
  private quietSweeps = -1;
  /** Created when someone waits for the close. */
  private closed: Promise<void> | undefined = undefined;
  private resolveClosed: (() => void) | undefined = undefined;

  /** @internal Created by servers and clients; not constructed by users. */
  constructor(
    id: number,
    socket: Socket,
    settings: ConnectionSettings,
    handlers: ConnectionHandlers<Data, Remote>,
    log: ConnectionLog<Data, Remote>,
  ) {
    super();
    // EventEmitter makes its listener table on the first on(); most connections never get one,
    // and an empty table is a dictionary of over 200 bytes.
    dropEmptyListenerTable(this);
    this.id = id;
    this.socket = socket;
    this.settings = settings;
    this.handlers = handlers;
    this.log = log;
    this.framing = resolveFraming(settings.framing);
    this.headerFraming = hasHeaderWriter(this.framing) ? this.framing : undefined;
    this.maxPendingBytes = settings.maxPendingBytes;
    this.budgeted = settings.budget !== undefined;
    this.timesMessages = settings.messageTimeout > 0;

    (socket as OwnedSocket)[OWNER] = this as unknown as Connection<unknown>;
    /* eslint-disable @typescript-eslint/unbound-method -- these are called on the socket, by design */
    socket.on('data', Connection.onSocketData);
    socket.on('end', Connection.onSocketEnd);
    socket.on('error', Connection.onSocketError);
    socket.on('close', Connection.onSocketClose);
    socket.on('drain', Connection.onSocketDrain);
    /* eslint-enable @typescript-eslint/unbound-method */
    if (settings.idleTimeout > 0) {
      const sweep = (settings.idleSweep ??= new IdleSweep(settings.idleTimeout, Connection.checkIdle));
      sweep.watch(this as unknown as Connection);
    }
  }

  /** On a server's connection, kept after the close; on a client's, read while it is open. */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }

  /** Read from the socket while it is open; undefined once it has closed. */
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  /** True until close() or destroy() is called or the peer goes away. */
  get isOpen(): boolean {
    return this.state === OPEN;
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Stops reading: nothing more is read from the socket (so a TCP peer is pushed back on once the
   * kernel buffers fill), and no 'message' is delivered, not even messages already assembled from
   * the last read; they wait, in order, for resume(). The message timeout does not run while
   * paused, since the peer cannot finish a message we do not read.
   */
  pause(): void {
    if (this.paused || this.state === CLOSED) return;
    this.paused = true;
    this.socket.pause();
    if (this.messageTimer !== undefined) {
      clearTimeout(this.messageTimer);
      this.messageTimer = undefined;
    }
  }

  /** Delivers the messages held while paused, in order, then reads again (unless paused anew). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    while (held !== undefined && held.length > 0 && !this.paused && !this.discarding) {
      this.deliver(held.shift() as Buffer);
    }
    if (this.paused || this.state === CLOSED) return;
    this.socket.resume();
    const assembler = this.assembler;
    if (assembler !== undefined && this.settings.messageTimeout > 0) this.trackMessageTimeout(assembler);
  }

  /** Bytes queued for this peer and not yet written to the network. */
  get pendingBytes(): number {
    return (this.batch?.bytes ?? 0) + this.socket.writableLength;
  }

  get stats(): ConnectionStats {
    return {
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut + (this.batch?.bytes ?? 0),
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
    if (this.state > ENDING) {
      throw new NotConnectedError(
        this.state === CLOSING ? `Connection ${this.id} is closing` : `Connection ${this.id} is closed`,
      );
    }
    const headerFraming = this.headerFraming;
    if (headerFraming !== undefined) {
      const batch = (this.batch ??= new WriteBatch(this.settings.arena));
      batch.frame(headerFraming, Buffer.isBuffer(payload) ? payload : toBuffer(payload));
    } else {
      this.queueEncoded(encodePayload(this.framing, payload));
    }
    this.messagesOut++;
    return this.afterQueue();
  }

  /**
   * Calls a method of the peer (JSON-RPC; the owner needs the `rpc` option) and resolves with its
   * result. Rejects with ERR_REMOTE (the peer's error object), ERR_REQUEST_TIMEOUT,
   * ERR_REQUEST_ABORTED or ERR_CONNECTION_LOST; a call is sent at most once, never retried.
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>> {
    const rpc = this.rpc;
    if (rpc === undefined)
      return Promise.reject(new TypeError('call() needs the "rpc" option on the owner.'));
    return rpc.call(method, args[0], args[1]) as Promise<ResultOf<Remote, M>>;
  }

  /** Sends a JSON-RPC notification (no response). Throws ERR_NOT_CONNECTED once closing. */
  notify<M extends string>(method: M, ...args: NotifyArgs<Remote, M>): void {
    const rpc = this.rpc;
    if (rpc === undefined) throw new TypeError('notify() needs the "rpc" option on the owner.');
    rpc.notify(method, args[0]);
  }

  /** @internal The JSON-RPC state of this connection (set once by its owner). */
  get rpcPeer(): RpcPeer | undefined {
    return this.rpc;
  }

  /** @internal */
  set rpcPeer(peer: RpcPeer | undefined) {
    this.rpc = peer;
  }

  /** @internal Queues already-framed bytes (shared by broadcast, which encodes once). */
  sendEncoded(parts: Buffer | readonly Buffer[]): boolean {
    if (this.state > ENDING) throw new NotConnectedError(`Connection ${this.id} is not open`);
    this.queueEncoded(parts);
    this.messagesOut++;
    return this.afterQueue();
  }

  /** @internal Queues one framed message that other connections share and nobody changes. */
  sendShared(frame: Buffer): boolean {
    if (this.state > ENDING) throw new NotConnectedError(`Connection ${this.id} is not open`);
    (this.batch ??= new WriteBatch(this.settings.arena)).share(frame);
    this.messagesOut++;
    return this.afterQueue();
  }

  private queueEncoded(encoded: Buffer | readonly Buffer[]): void {
    const batch = (this.batch ??= new WriteBatch(this.settings.arena));
    if (Buffer.isBuffer(encoded)) batch.append(encoded);
    else for (const part of encoded) batch.append(part);
  }

  /**
   * Flushes what is queued, ends the stream, and resolves once the socket has closed. A peer
   * that keeps its side open past `timeout` (default 5000 ms) is cut off: the connection is
   * destroyed then, and its close reason counts the `unsentBytes`.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.closeWithin(checkCloseTimeout(options), destroyConnection);
  }

  /**
   * @internal close() with a checked timeout, calling `expired` instead of destroy() at it. A
   * graceful close, as a server's or a client's, keeps the write side open while handlers of
   * delivered messages are still running, so their replies are written.
   */
  closeWithin(
    timeout: number,
    expired: (conn: Connection<Data, Remote>) => void,
    graceful = false,
  ): Promise<void> {
    this.beginClose('closed');
    // An explicit conn.close() ends the write side now, even while message handlers are running.
    if (!graceful) this.endWrites();
    const closed = this.whenClosed();
    if (this.state === CLOSED) return closed;
    const timer = setTimeout(expired, timeout, this);
    // The first close's timer is cleared by the close itself; another call's (rare) by its promise.
    if (this.closeTimer === undefined) this.closeTimer = timer;
    else void closed.then(() => clearTimeout(timer));
    return closed;
  }

  /** Closes at once, dropping unsent bytes (counted in the close reason). With an error, it is reported first. */
  destroy(err?: SockframeError): void {
    if (err !== undefined) {
      this.fail(err);
      return;
    }
    if (this.state === CLOSED) return;
    this.closeKind ??= 'closed';
    this.state = CLOSING;
    this.stopReading();
    this.destroySocket();
  }

  /** @internal A fault: closes the connection when it still can, and is reported in any case. */
  fault(err: SockframeError): void {
    if (this.failure === undefined && this.state !== CLOSED) this.fail(err);
    else this.handlers.error(err, this);
  }

  /** @internal A message handler returned a promise; until handlerSettled(), a graceful close keeps writing. */
  handlerStarted(): void {
    this.handlersRunning++;
  }

  /** @internal */
  handlerSettled(): void {
    if (--this.handlersRunning === 0 && this.state === ENDING) this.endWrites();
  }

  /** @internal A graceful close started by the owner (server shutdown). */
  closeFor(kind: CloseKind): Promise<void> {
    this.beginClose(kind);
    return this.whenClosed();
  }

  /** @internal Resolves when the socket has closed. */
  whenClosed(): Promise<void> {
    if (this.state === CLOSED) return Promise.resolve();
    return (this.closed ??= new Promise((resolve) => (this.resolveClosed = resolve)));
  }

  /** @internal Used by owners to expose the raw socket for options such as noDelay. */
  get rawSocket(): Socket {
    return this.socket;
  }

  /** @internal Whether a record at `level` would be written (without deriving the logger). */
  logsAt(level: Level): boolean {
    return this.log.isLevelEnabled(level);
  }

  /** @internal The connection's logger, derived on first use. */
  get logger(): Logger {
    const log = this.log;
    return log instanceof LazyChild ? (this.log = log.child(this)) : log;
  }

  /** Called by the owner's idle sweep for each connection, every `interval` ms. */
  private static readonly checkIdle = (conn: Connection, interval: number, timeout: number): void => {
    conn.expireIfIdle(interval, timeout);
  };

  private expireIfIdle(interval: number, timeout: number): void {
    if (this.socket.destroyed) return;
    // Any change in bytes read, bytes handed to the socket or bytes the socket passed on to the
    // kernel is traffic. writableLength grows by at most what bytesOut grows by, so this sum
    // changes whenever one of them does.
    const mark = this.bytesIn + 2 * this.bytesOut - this.socket.writableLength;
    if (mark !== this.activityMark) {
      this.activityMark = mark;
      this.quietSweeps = 0;
    } else if (++this.quietSweeps * interval >= timeout) {
      // The last traffic came before the sweep that saw it, so at least quietSweeps intervals ago.
      this.fail(new IdleTimeoutError(timeout));
    }
  }

  // ------------------------------------------------------------------ socket listeners

  // Shared by every connection: each finds its connection through the socket it is called on.
  private static readonly onSocketData = function (this: Socket, chunk: Buffer): void {
    ownerOf(this).onData(chunk);
  };

  private static readonly onSocketEnd = function (this: Socket): void {
    ownerOf(this).onEnd();
  };

  private static readonly onSocketError = function (this: Socket, err: Error): void {
    ownerOf(this).fail(new SocketError(err));
  };

  private static readonly onSocketClose = function (this: Socket): void {
    ownerOf(this).onClose();
  };

  private static readonly onSocketDrain = function (this: Socket): void {
    ownerOf(this).onDrain();
  };

  private static readonly onMessageTimeout = (conn: Connection<unknown>): void => {
    conn.fail(new MessageTimeoutError(conn.settings.messageTimeout));
  };

  // ------------------------------------------------------------------ reading

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    const assembler = this.assembler ?? this.createAssembler();
    this.delivering = true;
    try {
      assembler.push(chunk);
    } finally {
      this.delivering = false;
      // What the handlers of this chunk's messages sent goes out now, in one write, instead of
      // from the tick queue: a request/response peer then costs no extra turn per reply.
      if (this.flushQueued) this.flush();
    }
    if (this.budgeted && assembler.bufferedBytes !== this.chargedIn && !this.discarding) {
      this.charge(assembler.bufferedBytes, this.chargedOut);
    }
    if (this.timesMessages && this.state !== CLOSED && !this.paused) {
      this.trackMessageTimeout(assembler);
    }
  }

  private createAssembler(): MessageAssembler {
    this.assembler = new MessageAssembler({
      framing: this.framing,
      maxMessageSize: this.settings.maxMessageSize,
      maxHeaderBytes: this.settings.maxHeaderBytes,
      onMessage: (message) => {
        // Nothing more is delivered once the connection was failed or destroyed mid-chunk.
        if (this.discarding) return;
        if (this.paused) (this.held ??= []).push(message);
        else this.deliver(message);
      },
      // A framing error after destroy() must not turn its close into a failure.
      onError: (err) => {
        if (!this.discarding) this.fail(err);
      },
    });
    return this.assembler;
  }

  private deliver(message: Buffer): void {
    this.messagesIn++;
    this.handlers.message(message, this);
  }

  /** Times the message in progress, restarting the clock when a new one begins. */
  private trackMessageTimeout(assembler: MessageAssembler): void {
    if (assembler.bufferedBytes === 0) {
      if (this.messageTimer !== undefined) {
        clearTimeout(this.messageTimer);
        this.messageTimer = undefined;
      }
      return;
    }
    const delivered = assembler.messageCount;
    if (this.messageTimer === undefined) {
      this.messageTimer = setTimeout(
        Connection.onMessageTimeout,
        this.settings.messageTimeout,
        this as unknown as Connection,
      );
      this.messageTimer.unref();
    } else if (delivered !== this.messagesAtTimerStart) {
      this.messageTimer.refresh();
    }
    this.messagesAtTimerStart = delivered;
  }

  private onEnd(): void {
    const partial = this.assembler?.bufferedBytes ?? 0;
    if (partial > 0 && !this.discarding) {
      this.fail(new IncompleteMessageError(partial));
      return;
    }
    if (this.settings.allowHalfOpen === true && this.state <= ENDING) {
      // Our side stays open for the application to go on sending, until it closes.
      this.handlers.end?.(this);
      emitGuarded(this, 'end', NO_ARGS, LISTENER_FAULTS, this as unknown as Connection);
      return;
    }
    // The peer finished sending; answer what is queued, then end our side too.
    this.beginClose('peer-ended');
  }

  // ------------------------------------------------------------------ writing

  /**
   * After a frame was queued: enforces the pending limit, schedules the flush, and decides
   * send()'s answer. A 'drain' becomes due here, before the flush, so that the flush that
   * follows carries the write callback that will emit it: whether the socket takes the bytes at
   * once or later, 'drain' then always follows a false, and never from inside send().
   */
  private afterQueue(): boolean {
    const queued = (this.batch as WriteBatch).bytes;
    const end = this.bytesOut + queued;
    if (this.soleEnd < 0 && this.endsTail === 0) {
      this.soleEnd = end;
    } else {
      this.spillSoleEnd();
      (this.messageEnds ??= [])[this.endsTail++] = end;
    }
    const pending = queued + this.socket.writableLength;
    if (pending > this.maxPendingBytes) {
      this.fail(new SlowConsumerError(pending, this.maxPendingBytes));
      return false;
    }
    if (pending >= WRITE_HIGH_WATER_MARK) {
      this.needDrain = true;
      // Unsent bytes count against the budget once past the high-water mark (below it they
      // are bounded by it), until the 'drain' that follows.
      if (pending !== this.chargedOut) {
        this.charge(this.chargedIn, pending);
        if (this.state > ENDING) return false;
      }
    }
    if (queued >= BATCH_FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      // While a chunk's messages are being delivered, onData flushes once they all were.
      if (!this.delivering) process.nextTick(flushConnection, this);
    }
    return !this.needDrain;
  }

  /** @internal Hands the batch to the socket in as few writes as possible. */
  flush(): void {
    this.flushQueued = false;
    const batch = this.batch;
    if (batch === undefined) return;
    const bytes = batch.bytes;
    if (bytes === 0) return;
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      // Counted as queued, and as unsent: once a socket cannot take bytes, it never will again.
      this.bytesOut += bytes;
      this.droppedBytes += bytes;
      batch.clear();
      return;
    }
    this.bytesOut += bytes;
    const passedOn = this.needDrain
      ? batch.writeTo(socket, (this.afterWrite ??= () => this.onDrain()))
      : batch.writeTo(socket);
    // Everything sent so far has left: no message is unsent.
    if (passedOn && this.droppedBytes === 0) this.forgetAllEnds();
    else this.forgetWritten();
  }

  private forgetAllEnds(): void {
    this.soleEnd = -1;
    this.endsHead = 0;
    this.endsTail = 0;
    // An array grown by a burst is let go rather than kept for good.
    if (this.messageEnds !== undefined && this.messageEnds.length > MAX_KEPT_ENDS)
      this.messageEnds = undefined;
  }

  /** Moves the sole kept end into the array (which is then empty), before the array is read. */
  private spillSoleEnd(): void {
    if (this.soleEnd < 0) return;
    (this.messageEnds ??= [])[this.endsTail++] = this.soleEnd;
    this.soleEnd = -1;
  }

  /** Forgets where the messages the socket has passed on end. */
  private forgetWritten(): void {
    this.spillSoleEnd();
    const ends = this.messageEnds;
    if (ends === undefined) return;
    const backlog = this.socket.writableLength;
    if (backlog === 0 && this.droppedBytes === 0 && (this.batch?.bytes ?? 0) === 0) {
      this.forgetAllEnds();
      return;
    }
    const written = this.bytesOut - this.droppedBytes - backlog;
    let head = this.endsHead;
    const tail = this.endsTail;
    while (head < tail && (ends[head] as number) <= written) head++;
    if (head === tail) {
      this.forgetAllEnds();
      return;
    }
    if (head >= 1024 && head * 2 >= tail) {
      ends.copyWithin(0, head, tail);
      this.endsTail = tail - head;
      head = 0;
    }
    this.endsHead = head;
  }

  /**
   * A write callback or the socket's own 'drain' (which covers a due 'drain' whose bytes were
   * all handed over before it became due): emits 'drain' once nothing is left unwritten.
   */
  private onDrain(): void {
    this.forgetWritten();
    // While a graceful close waits for running handlers (ENDING), their sends still get drains.
    if (
      this.needDrain &&
      this.state <= ENDING &&
      (this.batch?.bytes ?? 0) === 0 &&
      this.socket.writableLength === 0
    ) {
      this.needDrain = false;
      if (this.chargedOut > 0) this.charge(this.chargedIn, 0);
      this.handlers.drain?.(this);
      emitGuarded(this, 'drain', NO_ARGS, LISTENER_FAULTS, this as unknown as Connection);
    }
  }

  // ------------------------------------------------------------------ closing

  /**
   * A graceful close: reading goes on (messages still arriving are delivered), and our side is
   * ended once no message handler is running any more.
   */
  private beginClose(kind: CloseKind): void {
    if (this.state !== OPEN) return;
    this.state = ENDING;
    this.closeKind = kind;
    if (this.handlersRunning === 0) this.endWrites();
  }

  /** Flushes what is queued and ends our side of the stream. */
  private endWrites(): void {
    if (this.state !== ENDING) return;
    this.state = CLOSING;
    this.flush();
    this.socket.end();
  }

  /**
   * Sets what this connection holds against its owner's memory budget (clients have none); the
   * budget may cut this or another connection off when the total passes its limit.
   */
  private charge(inbound: number, outbound: number, queued = this.chargedQueued): void {
    const budget = this.settings.budget;
    if (budget === undefined) return;
    if (inbound === this.chargedIn && outbound === this.chargedOut && queued === this.chargedQueued) return;
    this.chargedIn = inbound;
    this.chargedOut = outbound;
    this.chargedQueued = queued;
    budget.hold(this, inbound + outbound + queued);
  }

  /**
   * @internal What the JSON-RPC layer holds for this connection (requests waiting for a handler
   * slot), charged to the owner's memory budget with the rest; the budget may cut it off.
   */
  holdQueued(bytes: number): void {
    if (this.state !== CLOSED) this.charge(this.chargedIn, this.chargedOut, bytes);
  }

  /** A fault: report it once, then close at once. */
  private fail(err: SockframeError): void {
    if (this.failure !== undefined || this.state === CLOSED) return;
    this.charge(0, 0, 0);
    this.failure = err;
    this.closeKind = 'error';
    this.state = CLOSING;
    this.stopReading();
    this.handlers.error(err, this);
    this.destroySocket();
  }

  /** Nothing more is delivered, and the rest of the chunk being read is not even parsed. */
  private stopReading(): void {
    this.discarding = true;
    this.assembler?.reset();
  }

  private destroySocket(): void {
    this.unsentAtDestroy ??= this.unsent();
    this.socket.destroy();
  }

  /** What send() accepted and the socket has not passed on: messages and bytes. */
  private unsent(): UnsentCount {
    const backlog = unwrittenBytes(this.socket);
    const bytes = (this.batch?.bytes ?? 0) + backlog + this.droppedBytes;
    if (bytes === 0) return NOTHING_UNSENT;
    const written = this.bytesOut - this.droppedBytes - backlog;
    this.spillSoleEnd();
    const ends = this.messageEnds ?? [];
    // The ends ascend: the first one past what was written starts the unsent messages.
    let low = this.endsHead;
    let high = this.endsTail;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((ends[middle] as number) <= written) low = middle + 1;
      else high = middle;
    }
    return { messages: this.endsTail - low, bytes };
  }

  private onClose(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.charge(0, 0, 0);
    if (this.messageTimer !== undefined) clearTimeout(this.messageTimer);
    this.messageTimer = undefined;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.settings.idleSweep?.unwatch(this as unknown as Connection);
    const { messages: unsentMessages, bytes: unsentBytes } = this.unsentAtDestroy ?? this.unsent();
    this.batch?.clear();
    this.messageEnds = undefined;
    this.soleEnd = -1;
    this.endsHead = 0;
    this.endsTail = 0;
    const unsent = unsentBytes > 0 ? { unsentMessages, unsentBytes } : undefined;
    const reason: CloseReason =
      this.failure !== undefined
        ? { kind: 'error', error: this.failure, ...unsent }
        : { kind: closeKindWithoutError(this.closeKind), ...unsent };
    if (this.log.isLevelEnabled('info')) {
      this.logger.info(
        {
          reason: reason.kind,
          error: this.failure?.code,
          durationMs: Date.now() - this.connectedAt,
          bytesIn: this.bytesIn,
          bytesOut: this.bytesOut,
          messagesIn: this.messagesIn,
          messagesOut: this.messagesOut,
          unsentMessages,
          unsentBytes,
        },
        'connection closed',
      );
    }
    // Settled first: whatever the listeners do, close() resolves.
    this.resolveClosed?.();
    this.handlers.close(reason, this);
    emitGuarded(this, 'close', [reason], LISTENER_FAULTS, this as unknown as Connection);
  }
}

/**
 * Bytes a socket holds that it has not passed to the operating system. `writableLength` counts
 * the write in progress whole, though the kernel may have taken part of it already; how much of
 * it is left is libuv's write queue, which Node shows as the handle's `writeQueueSize`. Where
 * that is not to be had (TLS, whose queue holds ciphertext; a socket without a handle), the
 * count is `writableLength`: never less than the truth.
 */
function unwrittenBytes(socket: Socket): number {
  const length = socket.writableLength;
  if ((socket as { encrypted?: boolean }).encrypted === true) return length;
  const state = (socket as { _writableState?: { writing?: boolean; writelen?: number } })._writableState;
  const left = (socket as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  if (state?.writing !== true || typeof state.writelen !== 'number' || typeof left !== 'number')
    return length;
  return length - state.writelen + Math.min(left, state.writelen);
}

/** Messages and bytes send() accepted that did not leave. */
interface UnsentCount {
  readonly messages: number;
  readonly bytes: number;
}

const NOTHING_UNSENT: UnsentCount = Object.freeze({ messages: 0, bytes: 0 });

/** Where a listener of a connection's own events that threw or rejected is reported: as its fault. */
const LISTENER_FAULTS: FaultSink<Connection> = Object.freeze({
  listenerFault(thrown: unknown, event: string, conn: Connection | undefined): void {
    conn?.fault(new ListenerError(event, thrown));
  },
});

/**
 * The key under which a socket holds its connection, for the listeners all connections share: a
 * property read, where a table keyed by socket would cost a hash lookup per event and weak-table
 * work in every garbage collection.
 */
const OWNER = Symbol('sockframe.connection');

interface OwnedSocket extends Socket {
  [OWNER]: Connection<unknown>;
}

function ownerOf(socket: Socket): Connection<unknown> {
  return (socket as OwnedSocket)[OWNER];
}

/**
 * Leaves a new emitter without a listener table. Node's EventEmitter creates one in on() when
 * `_events` is undefined, and every other method reads an undefined table as "no listeners".
 */
function dropEmptyListenerTable(emitter: object): void {
  const own = emitter as { _events?: object; _eventsCount?: number };
  if (own._eventsCount === 0) own._events = undefined;
}

function closeKindWithoutError(kind: CloseKind | undefined): Exclude<CloseKind, 'error'> {
  return kind === undefined || kind === 'error' ? 'peer-ended' : kind;
}

function destroyConnection(connection: { destroy(): void }): void {
  connection.destroy();
}

function flushConnection(connection: { flush(): void }): void {
  connection.flush();
}

function hasHeaderWriter(framing: Framing): framing is HeaderFraming {
  return typeof (framing as LengthFraming).encodeHeader === 'function';
}
