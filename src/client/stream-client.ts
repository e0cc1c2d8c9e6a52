import type { Socket } from 'node:net';
import {
  ConnectAbortedError,
  ConnectTimeoutError,
  FramingHookError,
  NotConnectedError,
  QueueFullError,
  SocketError,
  SockframeError,
  TlsVerificationError,
} from '../errors';
import { SlabArena } from '../write-batch';
import type { CloseReason } from '../close-reason';
import {
  addTraffic,
  Connection,
  type ConnectionHandlers,
  type ConnectionSettings,
  type TrafficTotals,
} from '../connection';
import { encodePayload, WRITE_HIGH_WATER_MARK, type Payload } from '../payload';
import { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_MESSAGE_SIZE } from '../framing/assembler';
import { resolveFraming, type Framing, type FramingOption } from '../framing/framing';
import { defaultLengthField } from '../framing/length-field';
import { componentLogger, LazyChild, type LoggerOption } from '../logger';
import { checkBoolean, checkOptionKeys, checkSize, checkTime, optionKeys, show } from '../options';
import { checkCloseTimeout, type CloseOptions } from '../options';
import { tuneSocket } from '../socket-tuning';
import { connectSignal, joinAttempt, SocketClient, type ClientStats } from './socket-client';
import { emitGuarded } from '../dispatch';
import {
  checkRpc,
  type CallArgs,
  type HandleOptions,
  type JsonRpc,
  type MethodName,
  type NotifyArgs,
  type ResultOf,
  type RpcHandler,
} from '../rpc/json-rpc';
import { RpcEndpoint, RpcPeer } from '../rpc/peer';
import { ConnectionLostError } from '../errors';

/** Exponential backoff with jitter; every field optional. */
export interface ReconnectOptions {
  /**
   * Delay before the first retry, in milliseconds.
   * @default 100
   */
  initialDelay?: number;
  /**
   * The longest delay between retries, in milliseconds.
   * @default 30000
   */
  maxDelay?: number;
  /**
   * Each retry's delay is the previous one's times this.
   * @default 2
   */
  factor?: number;
  /**
   * Share of the delay drawn at random, from 0 (none) to 1 (full jitter: anywhere from 0 to
   * the delay).
   * @default 1
   */
  jitter?: number;
  /**
   * Retries at most, after which connect() rejects (or, after a drop, 'error' is emitted).
   * @default Infinity
   */
  maxAttempts?: number;
}

/** Options every stream client (TCP, TLS, IPC) takes. */
export interface StreamClientOptions<Local = unknown, Remote = unknown> {
  /**
   * JSON-RPC 2.0 on the connection: `jsonRpc<Local, Remote>()`. Messages then go to the handlers
   * given to handle() and to 'notification' listeners instead of 'message'.
   * @default none: messages are delivered as they are
   */
  rpc?: JsonRpc<Local, Remote>;
  /**
   * How the byte stream is cut into messages, and how send() frames them.
   * @default lengthField() — a 4-byte big-endian payload length
   */
  framing?: FramingOption;
  /**
   * The largest frame accepted from the server, header included.
   * @default 16 MiB
   */
  maxMessageSize?: number;
  /**
   * The most bytes a framing hook may see without deciding a frame's length (a variable-length
   * header answering NEED_MORE); past it the connection fails with ERR_INVALID_FRAME_LENGTH.
   * @default 64 KiB
   */
  maxHeaderBytes?: number;
  /**
   * Unsent bytes the client may hold, connected or (with queueWhileDisconnected) not.
   * @default 16 MiB
   */
  maxPendingBytes?: number;
  /**
   * Milliseconds one connection attempt may take (TLS: including the handshake); 0 = no limit.
   * @default 10000
   */
  connectTimeout?: number;
  /**
   * Milliseconds without a byte read or written before the connection is closed with
   * ERR_IDLE_TIMEOUT; 0 turns it off.
   * @default 0
   */
  idleTimeout?: number;
  /**
   * Milliseconds a message may take from its first byte to its last; 0 turns it off.
   * @default 30000
   */
  messageTimeout?: number;
  /** @default true */
  noDelay?: boolean;
  /**
   * As in node:net: when the peer ends its side (FIN), keep ours open: the connection emits
   * 'end' and send() goes on until close(). Off: the peer's FIN makes us answer what is queued and
   * end our side too.
   * @default false
   */
  allowHalfOpen?: boolean;
  /** TCP keep-alive: false, true, or the initial delay in milliseconds. @default false */
  keepAlive?: boolean | number;
  /**
   * Reconnect with exponential backoff: false, true (the defaults of ReconnectOptions) or options.
   * An explicit close() stops it for good.
   * @default false
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * While disconnected, send() queues (up to maxPendingBytes) instead of throwing
   * ERR_NOT_CONNECTED; the queue is sent in order on (re)connect.
   * @default false
   */
  queueWhileDisconnected?: boolean;
  /**
   * A pino logger; the client logs on `child({ component })`.
   * @default silent
   */
  logger?: LoggerOption;
}

/** The names of StreamClientOptions, for the unknown-key check. */
export const STREAM_CLIENT_KEYS = optionKeys<StreamClientOptions>()(
  'framing',
  'maxMessageSize',
  'maxHeaderBytes',
  'maxPendingBytes',
  'connectTimeout',
  'idleTimeout',
  'messageTimeout',
  'noDelay',
  'allowHalfOpen',
  'keepAlive',
  'reconnect',
  'queueWhileDisconnected',
  'logger',
  'rpc',
);

const RECONNECT_KEYS = optionKeys<ReconnectOptions>()(
  'initialDelay',
  'maxDelay',
  'factor',
  'jitter',
  'maxAttempts',
);

export const STREAM_CLIENT_DEFAULTS = Object.freeze({
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxPendingBytes: 16 * 1024 * 1024,
  connectTimeout: 10_000,
  idleTimeout: 0,
  messageTimeout: 30_000,
  noDelay: true,
  allowHalfOpen: false,
  keepAlive: false,
  queueWhileDisconnected: false,
});

export const RECONNECT_DEFAULTS = Object.freeze({
  initialDelay: 100,
  maxDelay: 30_000,
  factor: 2,
  jitter: 1,
  maxAttempts: Infinity,
});

type ResolvedReconnect = { -readonly [K in keyof typeof RECONNECT_DEFAULTS]: number };

function resolveReconnect(option: boolean | ReconnectOptions | undefined): ResolvedReconnect | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { ...RECONNECT_DEFAULTS };
  if (typeof option !== 'object' || option === null) {
    throw new TypeError(`The "reconnect" option must be a boolean or an object; got ${show(option)}.`);
  }
  checkOptionKeys('the "reconnect" option', option, RECONNECT_KEYS);
  const factor = option.factor ?? RECONNECT_DEFAULTS.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new TypeError(`The "reconnect.factor" option must be a number of at least 1; got ${show(factor)}.`);
  }
  const jitter = option.jitter ?? RECONNECT_DEFAULTS.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new TypeError(`The "reconnect.jitter" option must be a number from 0 to 1; got ${show(jitter)}.`);
  }
  const maxAttempts = option.maxAttempts ?? RECONNECT_DEFAULTS.maxAttempts;
  if (maxAttempts !== Infinity) checkSize('reconnect.maxAttempts', maxAttempts, 1);
  const initialDelay = checkTime(
    'reconnect.initialDelay',
    option.initialDelay,
    RECONNECT_DEFAULTS.initialDelay,
  );
  const maxDelay = checkTime('reconnect.maxDelay', option.maxDelay, RECONNECT_DEFAULTS.maxDelay);
  return { initialDelay, maxDelay: Math.max(maxDelay, initialDelay), factor, jitter, maxAttempts };
}

/** The delay before retry number `attempt` (1-based). */
export function backoffDelay(policy: ResolvedReconnect, attempt: number, random = Math.random): number {
  // 0 × an overflowed factor ** n would be NaN; a zero initial delay stays zero instead.
  const base =
    policy.initialDelay === 0
      ? 0
      : Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
  return Math.round(base * (1 - policy.jitter * random()));
}

const PAUSED_BY_USER = 1;
const PAUSED_BY_ITERATOR = 2;

/** `client.stats` of a stream client (TCP, TLS, IPC). */
export interface StreamClientStats extends ClientStats {
  /** Messages queued while disconnected (queueWhileDisconnected), not yet handed to a connection. */
  readonly queuedMessages: number;
  /** With the `rpc` option: outgoing calls awaiting their responses. */
  readonly pendingCalls: number;
}

/**
 * What TCP, TLS and IPC clients share: connecting with a timeout, reconnecting with backoff,
 * the disconnected send queue, and one Connection (framing, batching, backpressure) per connect.
 */
export abstract class StreamClient<Local = unknown, Remote = unknown> extends SocketClient {
  private readonly settings: ConnectionSettings;
  private readonly encoder: Framing;
  private readonly connectTimeout: number;
  private readonly noDelay: boolean;
  private readonly keepAlive: boolean | number;
  private readonly reconnectPolicy: ResolvedReconnect | undefined;
  private readonly queueWhileDisconnected: boolean;

  /** Why reading is paused: pause() and/or a messages() iterator whose queue is full. */
  private pausedBy = 0;
  private conn: Connection | undefined;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private queue: (Buffer | readonly Buffer[])[] = [];
  private queuedBytes = 0;
  /** send() returned false while queueing: a 'drain' is owed once the queue is handed over. */
  private queueOwesDrain = false;
  private connectionCount = 0;
  /** Counters of the connections that have closed (the current one is added when read). */
  private readonly closedTotals: TrafficTotals = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
  /** Shared by this client's connections (one at a time, but a new one per reconnect). */
  private handlers: ConnectionHandlers;
  /** Each connection's child logger `{ connId }`, derived on its first record. */
  private readonly connectionLog: LazyChild<Connection>;

  /** With the `rpc` option: the handlers, shared by every connection of this client. */
  private readonly rpc: RpcEndpoint | undefined;

  protected constructor(
    options: StreamClientOptions<Local, Remote>,
    component: string,
    known: ReadonlySet<string>,
  ) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('Client options must be an object.');
    }
    checkOptionKeys(new.target.name, options, known);
    super(componentLogger(options.logger, component));
    const framing = options.framing ?? defaultLengthField();
    this.encoder = resolveFraming(framing);
    this.settings = {
      // A factory gives each connection its own framing; a plain framing is shared.
      framing: typeof framing === 'function' ? framing : this.encoder,
      maxMessageSize: checkSize(
        'maxMessageSize',
        options.maxMessageSize,
        STREAM_CLIENT_DEFAULTS.maxMessageSize,
      ),
      maxHeaderBytes: checkSize(
        'maxHeaderBytes',
        options.maxHeaderBytes,
        STREAM_CLIENT_DEFAULTS.maxHeaderBytes,
      ),
      maxPendingBytes: checkSize(
        'maxPendingBytes',
        options.maxPendingBytes,
        STREAM_CLIENT_DEFAULTS.maxPendingBytes,
      ),
      idleTimeout: checkTime('idleTimeout', options.idleTimeout, STREAM_CLIENT_DEFAULTS.idleTimeout),
      messageTimeout: checkTime(
        'messageTimeout',
        options.messageTimeout,
        STREAM_CLIENT_DEFAULTS.messageTimeout,
      ),
      arena: clientArena(),
      allowHalfOpen: checkBoolean(
        'allowHalfOpen',
        options.allowHalfOpen,
        STREAM_CLIENT_DEFAULTS.allowHalfOpen,
      ),
    };
    this.connectTimeout = checkTime(
      'connectTimeout',
      options.connectTimeout,
      STREAM_CLIENT_DEFAULTS.connectTimeout,
    );
    this.noDelay = checkBoolean('noDelay', options.noDelay, STREAM_CLIENT_DEFAULTS.noDelay);
    const keepAlive = options.keepAlive ?? STREAM_CLIENT_DEFAULTS.keepAlive;
    if (typeof keepAlive !== 'boolean') checkTime('keepAlive', keepAlive, 0);
    this.keepAlive = keepAlive;
    this.reconnectPolicy = resolveReconnect(options.reconnect);
    this.handlers = {
      message: (message) => this.dispatchMessage(message),
      error: (err) => this.reportError(err),
      close: (reason, conn) => this.onConnectionClosed(conn, reason),
      drain: () => this.dispatchSimple('drain'),
      end: () => emitGuarded(this, 'end', [], this.listenerFaults),
    };
    const rpc = checkRpc(options.rpc);
    if (rpc !== undefined) {
      this.rpc = new RpcEndpoint(
        rpc.options,
        {
          notification: (_conn, method, params) =>
            emitGuarded(this, 'notification', [method, params], this.listenerFaults),
          report: (err) => this.reportError(err),
        },
        this.settings.maxMessageSize,
      );
      const base = this.handlers;
      this.handlers = {
        ...base,
        message: (message, conn) => (conn.rpcPeer as RpcPeer).receive(message),
        close: (reason, conn) => {
          (conn.rpcPeer as RpcPeer).connectionClosed(reason.kind === 'error' ? reason.error : undefined);
          base.close(reason, conn);
        },
      };
    }
    this.connectionLog = new LazyChild(this.log, (conn: Connection) => ({ connId: conn.id }));
    this.queueWhileDisconnected = checkBoolean(
      'queueWhileDisconnected',
      options.queueWhileDisconnected,
      STREAM_CLIENT_DEFAULTS.queueWhileDisconnected,
    );
  }

  /** Starts a connection attempt; the socket must emit readyEvent() once usable. */
  protected abstract createSocket(): Socket;
  /** The socket event that means the connection is usable. */
  protected abstract readyEvent(): 'connect' | 'secureConnect';
  /** Where this client connects, for logs and errors. */
  protected abstract describeTarget(): string;

  get connected(): boolean {
    return this.conn?.isOpen === true;
  }

  /** The current connection, while connected. */
  get connection(): Connection | undefined {
    return this.conn;
  }

  /** Counters since the client was created, computed when read (nothing is added per message). */
  get stats(): StreamClientStats {
    const traffic = { ...this.closedTotals };
    const conn = this.conn;
    if (conn !== undefined) addTraffic(traffic, conn.stats);
    return {
      connected: this.connected,
      ...this.lifecycleStats(),
      ...traffic,
      pendingBytes: this.pendingBytes,
      queuedMessages: this.queue.length,
      pendingCalls: conn?.rpcPeer?.pendingCalls ?? 0,
    };
  }

  /** Bytes waiting to be sent: queued while disconnected, or not yet written to the network. */
  get pendingBytes(): number {
    return this.queuedBytes + (this.conn?.pendingBytes ?? 0);
  }

  connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = connectSignal(options);
    if (signal instanceof TypeError) return Promise.reject(signal);
    if (this.closedForGood) return Promise.reject(new ConnectAbortedError('The client is closed'));
    if (this.conn?.isOpen === true) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(new ConnectAbortedError('Aborted', signal.reason));
    this.unfinish();
    // An attempt under way (another connect(), or reconnecting) is joined.
    if (this.connecting !== undefined) return joinAttempt(this.connecting, signal);
    this.connecting = this.attemptFirst(signal).then(
      () => {
        this.connecting = undefined;
      },
      (err: unknown) => {
        // Not the network's fault, and not the caller's: reported as well as rejected.
        if (err instanceof TlsVerificationError) this.reportError(err);
        this.connecting = undefined;
        throw err;
      },
    );
    return this.connecting;
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return (this.pausedBy & PAUSED_BY_USER) !== 0;
  }

  /**
   * Stops reading from the server: nothing more is read (TCP pushes back on the server) and no
   * 'message' is delivered, not even messages already assembled; they wait, in order, for
   * resume(). It holds across reconnects until resume().
   */
  pause(): void {
    this.setPaused(PAUSED_BY_USER, true);
  }

  /** Delivers what was held while paused, in order, then reads again. */
  resume(): void {
    this.setPaused(PAUSED_BY_USER, false);
  }

  protected override holdReading(hold: boolean): void {
    this.setPaused(PAUSED_BY_ITERATOR, hold);
  }

  private setPaused(reason: number, on: boolean): void {
    const before = this.pausedBy;
    this.pausedBy = on ? before | reason : before & ~reason;
    if ((before === 0) === (this.pausedBy === 0)) return;
    if (this.pausedBy === 0) this.conn?.resume();
    else this.conn?.pause();
  }

  send(payload: Payload): boolean {
    const conn = this.conn;
    if (conn !== undefined && conn.isOpen) return conn.send(payload);
    if (this.closedForGood) throw new NotConnectedError('The client is closed');
    if (!this.queueWhileDisconnected)
      throw new NotConnectedError(`Not connected to ${this.describeTarget()}`);
    const encoded = encodePayload(this.encoder, payload);
    const size = Buffer.isBuffer(encoded) ? encoded.length : encoded.reduce((n, part) => n + part.length, 0);
    if (this.queuedBytes + size > this.settings.maxPendingBytes) {
      throw new QueueFullError(this.queuedBytes + size, this.settings.maxPendingBytes);
    }
    this.queue.push(encoded);
    this.queuedBytes += size;
    if (this.queuedBytes < WRITE_HIGH_WATER_MARK) return true;
    this.queueOwesDrain = true;
    return false;
  }

  /**
   * Calls a method of the server (needs the `rpc` option) and resolves with its result. Rejects
   * with ERR_REMOTE, ERR_REQUEST_TIMEOUT, ERR_REQUEST_ABORTED, ERR_TOO_MANY_PENDING, or
   * ERR_CONNECTION_LOST (not connected, or the connection closed before the response: a call is
   * sent at most once and never retried, reconnect or not).
   */
  call<M extends MethodName<Remote>>(method: M, ...args: CallArgs<Remote, M>): Promise<ResultOf<Remote, M>> {
    if (this.rpc === undefined) return Promise.reject(new TypeError('call() needs the "rpc" option.'));
    const peer = this.conn?.rpcPeer;
    if (peer === undefined) return Promise.reject(new ConnectionLostError(method, false));
    return peer.call(method, args[0], args[1]) as Promise<ResultOf<Remote, M>>;
  }

  /** Sends a JSON-RPC notification to the server; throws ERR_NOT_CONNECTED when not connected. */
  notify<M extends string>(method: M, ...args: NotifyArgs<Remote, M>): void {
    if (this.rpc === undefined) throw new TypeError('notify() needs the "rpc" option.');
    const peer = this.conn?.rpcPeer;
    if (peer === undefined || this.conn?.isOpen !== true) {
      throw new NotConnectedError(`Not connected to ${this.describeTarget()}`);
    }
    peer.notify(method, args[0]);
  }

  /**
   * Serves `method` to the server (needs the `rpc` option); see StreamServer.handle(). The
   * handler's `conn` is the connection the call came in on.
   */
  handle<M extends MethodName<Local>>(
    method: M,
    handler: RpcHandler<Local, M, Connection<unknown, Remote>>,
    options?: HandleOptions,
  ): this {
    if (this.rpc === undefined) throw new TypeError('handle() needs the "rpc" option.');
    this.rpc.handle(method, handler, options);
    return this;
  }

  /**
   * Flushes what is queued on the connection, ends it and resolves once it has closed; a server
   * that keeps its side open past `timeout` (default 5000 ms) is cut off. Stops reconnecting for
   * good; messages still queued while disconnected are reported as one ERR_NOT_CONNECTED error.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const timeout = checkCloseTimeout(options);
    // Aborts the attempt or backoff wait under way, and every later step checks it.
    this.closeForGood();
    if (this.queue.length > 0) {
      const unsent = { messages: this.queue.length, bytes: this.queuedBytes };
      this.queue = [];
      this.queuedBytes = 0;
      this.reportError(
        new NotConnectedError(
          `${unsent.messages} queued messages (${unsent.bytes} bytes) were not sent: the client was closed`,
          unsent,
        ),
      );
    }
    const conn = this.conn;
    const ending = conn === undefined ? undefined : this.endConnection(conn, timeout);
    const attempt = this.connecting?.catch(() => {});
    const done = attempt === undefined ? (ending ?? Promise.resolve()) : Promise.all([ending, attempt]);
    this.closing = done.then(() => {
      this.log.info('client closed');
    });
    return this.closing;
  }

  private endConnection(conn: Connection, timeout: number): Promise<void> {
    // Graceful, as a server's close: handlers of the server's calls still running (rpc) get their
    // responses written before our side ends; reading goes on meanwhile.
    return conn.closeWithin(
      timeout,
      (left) => {
        this.log.warn(
          { connId: left.id, timeoutMs: timeout },
          'destroying the connection left at the close timeout',
        );
        left.destroy();
      },
      true,
    );
  }

  protected failConnection(err: SockframeError): void {
    if (this.conn !== undefined) this.conn.destroy(err);
    else this.reportError(err);
  }

  /** Node's error from a failed attempt as a SockframeError; TLS tells a refused certificate apart. */
  protected connectError(err: Error, _socket: Socket): SockframeError {
    return new SocketError(err);
  }

  /**
   * The first attempt of a connect(); the retry loop (and its async frame) only after a failure
   * that the policy retries.
   */
  private attemptFirst(signal: AbortSignal | undefined): Promise<void> {
    return this.attempt(signal).catch((err: unknown) => this.run(signal, this.retryAfter(err, 0)));
  }

  /** Retries to connect under the policy; `attempt` is the number of this retry (1 for the first). */
  private async run(signal: AbortSignal | undefined, attempt: number): Promise<void> {
    let retries = attempt;
    for (;;) {
      const policy = this.reconnectPolicy as ResolvedReconnect;
      const delayMs = backoffDelay(policy, retries);
      this.log.info({ attempt: retries, delayMs }, 'reconnecting');
      this.dispatchSimple('reconnecting', { attempt: retries, delayMs });
      // close() from a 'reconnecting' listener: no wait, no attempt.
      await this.wait(delayMs, signal);
      try {
        await this.attempt(signal);
        return;
      } catch (err) {
        retries = this.retryAfter(err, retries);
      }
    }
  }

  /**
   * After a failed attempt, when `retries` retries have been made: the number of the next retry,
   * or `err` thrown when the policy (or the fault) allows none.
   */
  private retryAfter(err: unknown, retries: number): number {
    // Only network faults are retried: anything else (a TypeError from the socket's own
    // options, a certificate the client refused) would fail the same way every time.
    if (!(err instanceof SockframeError)) throw err;
    if (!isRetryable(err) || this.closedForGood) throw err;
    this.log.debug({ err, attempt: retries }, 'connect attempt failed');
    const policy = this.reconnectPolicy;
    if (policy === undefined || retries >= policy.maxAttempts) throw err;
    return retries + 1;
  }

  /** Waits `ms`, or rejects at once when `signal` aborts or the client is closed for good. */
  private wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closedForGood) return reject(this.closedReason);
      const done = (err?: SockframeError): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        unwatchClose();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = (): void => done(new ConnectAbortedError('Aborted', signal?.reason));
      const timer = setTimeout(() => done(), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      const unwatchClose = this.watchClose(done);
    });
  }

  private attempt(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closedForGood) return reject(this.closedReason);
      if (this.log.isLevelEnabled('debug')) this.log.debug({ target: this.describeTarget() }, 'connecting');
      const socket = this.createSocket();
      const ready = this.readyEvent();
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        unwatchClose();
        socket.off('error', onError);
        socket.off(ready, onReady);
      };
      const fail = (err: SockframeError): void => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(this.connectError(err, socket));
      const onAbort = (): void => fail(new ConnectAbortedError('Aborted', signal?.reason));
      const onReady = (): void => {
        cleanup();
        try {
          this.adopt(socket);
        } catch (err) {
          reject(err instanceof Error ? err : new FramingHookError(err));
          return;
        }
        resolve();
      };
      if (this.connectTimeout > 0) {
        timer = setTimeout(() => fail(new ConnectTimeoutError(this.connectTimeout)), this.connectTimeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      const unwatchClose = this.watchClose(fail);
      // on(), not once(): cleanup() takes both off at the first of them, without once()'s wrappers.
      socket.on('error', onError);
      socket.on(ready, onReady);
    });
  }

  private adopt(socket: Socket): void {
    tuneSocket(socket, this.noDelay, this.keepAlive);
    const id = ++this.connectionCount;
    let conn: Connection;
    try {
      conn = new Connection(id, socket, this.settings, this.handlers, this.connectionLog);
    } catch (err) {
      // The framing factory threw (or made something that is not a framing).
      socket.destroy();
      throw new FramingHookError(err);
    }
    this.conn = conn;
    if (this.rpc !== undefined) conn.rpcPeer = new RpcPeer(this.rpc, conn);
    if (this.pausedBy !== 0) conn.pause();
    if (this.log.isLevelEnabled('info')) {
      this.log.info({ target: this.describeTarget(), connId: id }, 'connected');
    }
    // What was queued while disconnected goes first, in order.
    const queued = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    let connectionOwesDrain = false;
    for (const encoded of queued) if (!conn.sendEncoded(encoded)) connectionOwesDrain = true;
    this.dispatchConnect();
    // A send() that returned false while queueing is owed a 'drain'. When the connection took
    // the queue without passing its own high-water mark it will not emit one, so it is due now.
    if (this.queueOwesDrain) {
      this.queueOwesDrain = false;
      if (!connectionOwesDrain && conn.isOpen) this.dispatchSimple('drain');
    }
  }

  private onConnectionClosed(conn: Connection, reason: CloseReason): void {
    addTraffic(this.closedTotals, conn.stats);
    // A connection that a newer connect() already replaced ends without ending the client.
    if (this.conn !== conn) {
      this.dispatchClose(reason);
      return;
    }
    this.conn = undefined;
    const retry = this.reconnectPolicy !== undefined && !this.closedForGood;
    if (!retry) this.finish();
    this.dispatchClose(reason);
    // Checked again after the listeners: one of them may have called close() (which finished).
    if (!retry || this.closedForGood || this.connecting !== undefined) return;
    const running = this.run(undefined, 1);
    this.connecting = running;
    running.then(
      () => {
        if (this.connecting === running) this.connecting = undefined;
      },
      (err: unknown) => {
        if (this.connecting === running) this.connecting = undefined;
        this.finish();
        if (err instanceof ConnectAbortedError) return;
        this.log.warn({ err }, 'giving up reconnecting');
        this.reportError(err as SockframeError);
      },
    );
  }
}

let sharedArena: SlabArena | undefined;

/**
 * The arena of every stream client of the process, as a server has one for all its connections:
 * a client that sends a message or two and closes then allocates no slab of its own.
 */
function clientArena(): SlabArena {
  return (sharedArena ??= new SlabArena());
}

/** Faults worth another attempt: the network's, not the caller's (or a refused certificate). */
function isRetryable(err: SockframeError): boolean {
  return err.code === 'ERR_SOCKET' || err.code === 'ERR_CONNECT_TIMEOUT';
}
