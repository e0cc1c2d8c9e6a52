import { closeSync, openSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { devNull } from 'node:os';
import {
  AddressInUseError,
  FramingHookError,
  ServerClosedError,
  SocketError,
  type SockframeError,
} from '../errors';
import { addTraffic, Connection, type ConnectionHandlers, type ConnectionSettings } from '../connection';
import { encodePayload, type Payload } from '../payload';
import { tuneSocket } from '../socket-tuning';
import { DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_MESSAGE_SIZE } from '../framing/assembler';
import { resolveFraming, type FramingOption } from '../framing/framing';
import { defaultLengthField } from '../framing/length-field';
import { componentLogger, LazyChild, type LoggerOption } from '../logger';
import { checkBoolean, checkOptionKeys, checkSize, checkTime, optionKeys } from '../options';
import { emitGuarded } from '../dispatch';
import { checkAdapter, type ServerAdapter } from '../adapters/adapter';
import { DEFAULT_CLOSE_TIMEOUT } from '../options';
import { SocketServer, type ServerStats } from './socket-server';
import { SlabArena } from '../write-batch';
import { MemoryBudget } from '../memory-budget';
import {
  checkRpc,
  type HandleOptions,
  type JsonRpc,
  type MethodName,
  type RpcHandler,
} from '../rpc/json-rpc';
import {
  attachHandshake,
  checkHandshake,
  type HandshakeCall,
  type HandshakeConnection,
} from '../rpc/handshake';
import { RpcEndpoint, RpcPeer } from '../rpc/peer';

/** Options every stream server (TCP, TLS, IPC) takes. All are optional. */
export interface StreamServerOptions<Local = unknown, Remote = unknown> {
  /**
   * JSON-RPC 2.0 on every connection: `jsonRpc<Local, Remote>()`. Messages then go to the
   * handlers given to handle() and to 'notification' listeners instead of 'message'.
   * @default none: messages are delivered as they are
   */
  rpc?: JsonRpc<Local, Remote>;
  /**
   * Runs for each new connection before 'connect': resolves to the connection's `data`, or throws
   * to refuse it (the connection is closed; refusals are counted and logged at a limited rate).
   * With `rpc`, it also receives the connection's first call (`auth`, say), which it answers:
   * `true` on success, its RpcError (or -32002) on refusal. Messages arriving meanwhile wait.
   * @default none
   */
  handshake?: (conn: HandshakeConnection, call: HandshakeCall | undefined) => unknown;
  /**
   * Milliseconds the `handshake` (with `rpc`: the first call included) may take before the
   * connection is refused with ERR_HANDSHAKE_TIMEOUT; 0 = no limit.
   * @default 10000
   */
  acceptTimeout?: number;
  /**
   * How each connection's byte stream is cut into messages, and how send() frames them.
   * A function is called once per connection, for framings that keep state.
   * @default lengthField() — a 4-byte big-endian payload length
   */
  framing?: FramingOption;
  /**
   * The largest frame accepted, header included, checked as soon as its length is known.
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
   * Unsent bytes one connection may hold; past it the connection is destroyed with
   * ERR_SLOW_CONSUMER.
   * @default 16 MiB
   */
  maxPendingBytes?: number;
  /**
   * The most memory all connections together may hold: bytes of incomplete inbound messages, and
   * unsent outbound bytes of connections past their 256 KiB high-water mark. Past it, the
   * connection holding the most is destroyed with ERR_MEMORY_BUDGET (and the next, until the total
   * is back under it); everyone else keeps being served. At least `maxMessageSize`.
   * @default 512 MiB
   */
  memoryBudget?: number;
  /**
   * Open connections at most; more are refused with a 'drop' event.
   * @default 10000
   */
  maxConnections?: number;
  /**
   * Milliseconds without a byte read or written before a connection is closed with
   * ERR_IDLE_TIMEOUT; 0 turns it off. A connection with traffic is never closed by it.
   * @default 120000
   */
  idleTimeout?: number;
  /**
   * Milliseconds a message may take from its first byte to its last before the connection is
   * closed with ERR_MESSAGE_TIMEOUT (against slowloris); 0 turns it off.
   * @default 30000
   */
  messageTimeout?: number;
  /**
   * Disables Nagle's algorithm on each connection (writes are batched per tick already).
   * @default true
   */
  noDelay?: boolean;
  /**
   * As in node:net: when the peer ends its side (FIN), keep ours open: the connection emits
   * 'end' and send() goes on until close(). Off: the peer's FIN makes us answer what is queued and
   * end our side too.
   * @default false
   */
  allowHalfOpen?: boolean;
  /**
   * TCP keep-alive on each connection: false, true, or the initial delay in milliseconds.
   * @default false
   */
  keepAlive?: boolean | number;
  /**
   * A pino logger; sockframe logs on `child({ component })` and per connection
   * `child({ connId, remote })`.
   * @default silent
   */
  logger?: LoggerOption;
  /**
   * Carries broadcasts to the other instances of the service and theirs to this server's
   * connections: a NodeClusterAdapter (the workers of one machine) or a RedisAdapter (from
   * `sockframe/redis`, across machines). Attached by listen(), released by close().
   * @default none: broadcasts reach this server's connections only
   */
  adapter?: ServerAdapter;
}

/** How often a listening server checks that the process can still open descriptors. */
const DESCRIPTOR_CHECK_INTERVAL_MS = 1_000;

/** Errors that mean the process (EMFILE) or the system (ENFILE) is out of file descriptors. */
function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** The names of StreamServerOptions, for the unknown-key check. */
export const STREAM_SERVER_KEYS = optionKeys<StreamServerOptions>()(
  'framing',
  'maxMessageSize',
  'maxHeaderBytes',
  'maxPendingBytes',
  'memoryBudget',
  'maxConnections',
  'idleTimeout',
  'messageTimeout',
  'noDelay',
  'allowHalfOpen',
  'keepAlive',
  'logger',
  'adapter',
  'rpc',
  'handshake',
  'acceptTimeout',
);

/** Payload bytes shown (in hex) by a trace record of a received message. */
const TRACED_PAYLOAD_BYTES = 256;

/** `server.stats` of a stream server (TCP, TLS, IPC). */
export interface StreamServerStats extends ServerStats {
  /** What the connections hold against `memoryBudget`, and the budget. */
  readonly memoryBudget: { readonly used: number; readonly limit: number };
}

/** The defaults of StreamServerOptions, in one place. */
export const STREAM_SERVER_DEFAULTS = Object.freeze({
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxPendingBytes: 16 * 1024 * 1024,
  memoryBudget: 512 * 1024 * 1024,
  maxConnections: 10_000,
  idleTimeout: 120_000,
  messageTimeout: 30_000,
  noDelay: true,
  allowHalfOpen: false,
  keepAlive: false,
  closeTimeout: DEFAULT_CLOSE_TIMEOUT,
});

interface ResolvedStreamOptions extends ConnectionSettings {
  maxConnections: number;
  noDelay: boolean;
  keepAlive: boolean | number;
}

export function resolveStreamServerOptions<Local, Remote>(
  options: StreamServerOptions<Local, Remote>,
  owner = 'a server',
  known: ReadonlySet<string> = STREAM_SERVER_KEYS,
): ResolvedStreamOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('Server options must be an object.');
  }
  checkOptionKeys(owner, options, known);
  const framing = options.framing ?? defaultLengthField();
  if (typeof framing !== 'function') resolveFraming(framing); // validates now, not at first connection
  const keepAlive = options.keepAlive ?? STREAM_SERVER_DEFAULTS.keepAlive;
  if (typeof keepAlive !== 'boolean') checkTime('keepAlive', keepAlive, 0);
  const maxMessageSize = checkSize(
    'maxMessageSize',
    options.maxMessageSize,
    STREAM_SERVER_DEFAULTS.maxMessageSize,
  );
  const memoryBudget = checkSize('memoryBudget', options.memoryBudget, STREAM_SERVER_DEFAULTS.memoryBudget);
  if (memoryBudget < maxMessageSize) {
    throw new TypeError(
      `The "memoryBudget" option (${memoryBudget}) must be at least "maxMessageSize" (${maxMessageSize}).`,
    );
  }
  return {
    framing,
    maxMessageSize,
    maxHeaderBytes: checkSize(
      'maxHeaderBytes',
      options.maxHeaderBytes,
      STREAM_SERVER_DEFAULTS.maxHeaderBytes,
    ),
    maxPendingBytes: checkSize(
      'maxPendingBytes',
      options.maxPendingBytes,
      STREAM_SERVER_DEFAULTS.maxPendingBytes,
    ),
    maxConnections: checkSize(
      'maxConnections',
      options.maxConnections,
      STREAM_SERVER_DEFAULTS.maxConnections,
    ),
    idleTimeout: checkTime('idleTimeout', options.idleTimeout, STREAM_SERVER_DEFAULTS.idleTimeout),
    messageTimeout: checkTime(
      'messageTimeout',
      options.messageTimeout,
      STREAM_SERVER_DEFAULTS.messageTimeout,
    ),
    noDelay: checkBoolean('noDelay', options.noDelay, STREAM_SERVER_DEFAULTS.noDelay),
    allowHalfOpen: checkBoolean('allowHalfOpen', options.allowHalfOpen, STREAM_SERVER_DEFAULTS.allowHalfOpen),
    keepAlive,
    // One per server: its connections share slabs, and nothing is shared with other servers.
    arena: new SlabArena(),
    budget: new MemoryBudget(memoryBudget),
  };
}

/**
 * What TCP, TLS and IPC servers share: they are all a net.Server underneath. Subclasses create
 * the net.Server, say which event hands over a ready socket, and shape the address.
 */
export abstract class StreamServer<
  L,
  A,
  Data = unknown,
  Local = unknown,
  Remote = unknown,
> extends SocketServer<Connection<Data, Remote>, L, A> {
  /** @internal The options with their defaults, as the transports read them. */
  protected readonly settings: ResolvedStreamOptions;
  protected readonly server: Server;
  /**
   * When connections wrap the accepted socket (TLS), every accepted socket, including those still
   * in a handshake, so close() can end them all. Otherwise the registry reaches every socket.
   */
  private readonly wrappedSockets: Set<Socket> | undefined;
  /** Shared by every connection of this server (no closure per connection). */
  private readonly handlers: ConnectionHandlers<Data, Remote>;
  /** The same, also tracing each message received; chosen when the logger traces. */
  private readonly tracingHandlers: ConnectionHandlers<Data, Remote>;
  /** With the `rpc` option: messages go to each connection's RpcPeer. */
  private readonly rpc: RpcEndpoint | undefined;
  private readonly rpcHandlers: ConnectionHandlers<Data, Remote> | undefined;
  /** With the `handshake` option: what runs it for each new connection. */
  private readonly handshake: ReturnType<typeof checkHandshake<Data, Remote>>;
  /** Each connection's child logger `{ connId, remote }`, derived on its first record. */
  private readonly connectionLog: LazyChild<Connection<Data, Remote>>;
  private nextId = 0;
  /** Counters of the connections that have closed (the open ones are summed when read). */
  private readonly closedTotals = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
  /**
   * Out of file descriptors, libuv accepts and at once closes every connection that arrives, and
   * Node hears nothing of it; so a listening server checks that it can open one, once a second.
   */
  private descriptorCheck: NodeJS.Timeout | undefined;
  /** The code (EMFILE, ENFILE) while the process is out of descriptors; reported once per episode. */
  private descriptorShortage: string | undefined;

  /** Accepted sockets are made half-open, so replies reach peers that have ended their side. */
  protected constructor(
    options: StreamServerOptions<Local, Remote>,
    component: string,
    server: Server,
    known: ReadonlySet<string> = STREAM_SERVER_KEYS,
  ) {
    const settings = resolveStreamServerOptions(options, new.target.name, known);
    super(componentLogger(options.logger, component), checkAdapter(options.adapter));
    this.settings = settings;
    this.server = server;
    this.server.maxConnections = settings.maxConnections;
    this.handlers = {
      message: (message, conn) => this.dispatchMessage(conn, message),
      error: (err, conn) => this.reportError(err, conn),
      close: (reason, conn) => {
        // A connection refused by the handshake never connected: no 'close' either.
        if (this.registry.delete(conn.id)) {
          addTraffic(this.closedTotals, conn.stats);
          this.dispatchClose(conn, reason);
        }
      },
    };
    this.tracingHandlers = {
      ...this.handlers,
      message: (message, conn) => {
        conn.logger.trace(
          { bytes: message.length, payload: message.subarray(0, TRACED_PAYLOAD_BYTES).toString('hex') },
          'message received',
        );
        this.dispatchMessage(conn, message);
      },
    };
    const rpc = checkRpc(options.rpc);
    this.rpc =
      rpc === undefined
        ? undefined
        : new RpcEndpoint(
            rpc.options,
            {
              notification: (conn, method, params) =>
                emitGuarded(
                  this,
                  'notification',
                  [conn, method, params],
                  this.listenerFaults,
                  conn as Connection<Data, Remote>,
                ),
              report: (err, conn) => this.reportError(err, conn as Connection<Data, Remote>),
            },
            settings.maxMessageSize,
          );
    this.rpcHandlers =
      this.rpc === undefined
        ? undefined
        : {
            ...this.handlers,
            message: (message, conn) => (conn.rpcPeer as RpcPeer).receive(message),
            close: (reason, conn) => {
              (conn.rpcPeer as RpcPeer).connectionClosed(reason.kind === 'error' ? reason.error : undefined);
              this.handlers.close(reason, conn);
            },
          };
    this.handshake = checkHandshake<Data, Remote>(options.handshake, options.acceptTimeout, this.log);
    this.connectionLog = new LazyChild(this.log, (conn: Connection<Data, Remote>) => ({
      connId: conn.id,
      remote: conn.remoteAddress === undefined ? component : `${conn.remoteAddress}:${conn.remotePort}`,
    }));
    if (this.readyEvent() === 'connection') {
      this.wrappedSockets = undefined;
      this.server.on('connection', (socket: Socket) => this.accept(socket));
    } else {
      const sockets = new Set<Socket>();
      // One listener for every socket: it is called on the socket that closed.
      const forget = function (this: Socket): void {
        sockets.delete(this);
      };
      this.wrappedSockets = sockets;
      this.server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', forget);
      });
      this.server.on(this.readyEvent(), (socket: Socket) => this.accept(socket));
    }
    this.server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) =>
      this.dispatchDrop({
        remoteAddress: data?.remoteAddress,
        remotePort: data?.remotePort,
        reason: 'max-connections',
      }),
    );
  }

  protected override dropDetails(): object {
    return { maxConnections: this.settings.maxConnections };
  }

  /** The server event that hands over a socket ready for messages. */
  protected abstract readyEvent(): 'connection' | 'secureConnection';
  /** Turns the net.Server's address into this server's address type. */
  protected abstract shapeAddress(): A;
  /** Runs after the net.Server has closed (removes socket files). */
  protected afterClose(): void {}

  /** close() came while binding: the net.Server stops listening, leaving nothing behind. */
  protected async unbind(): Promise<void> {
    if (this.server.listening) await new Promise((resolve) => this.server.close(resolve));
    this.afterClose();
  }

  protected started(): A {
    this.server.on('error', (err) => {
      if (isOutOfDescriptors(err)) this.noteDescriptorShortage(err);
      else this.reportError(new SocketError(err), undefined);
    });
    if (process.platform !== 'win32') {
      this.descriptorCheck = setInterval(() => this.checkDescriptors(), DESCRIPTOR_CHECK_INTERVAL_MS);
      this.descriptorCheck.unref();
    }
    return this.shapeAddress();
  }

  protected broadcastLocal(
    payload: Payload,
    filter: ((conn: Connection<Data, Remote>) => boolean) | undefined,
  ): number {
    const framing = typeof this.settings.framing === 'function' ? undefined : this.settings.framing;
    // Encoded once, into a buffer of our own (so a caller reusing its payload buffer changes
    // nothing), which every connection then queues by reference.
    const encoded = framing === undefined ? undefined : encodePayload(framing, payload);
    const frame =
      encoded === undefined
        ? undefined
        : Buffer.isBuffer(encoded)
          ? Buffer.from(encoded)
          : Buffer.concat(encoded);
    let sent = 0;
    for (const conn of this.registry.values()) {
      if (!conn.isOpen || (filter !== undefined && !filter(conn))) continue;
      if (frame !== undefined) conn.sendShared(frame);
      else conn.send(payload);
      sent++;
    }
    return sent;
  }

  /**
   * Serves `method` (needs the `rpc` option): the handler gets the params and `{ conn, signal, id }`
   * and returns the result or a promise of it. It may throw an RpcError to answer with that error
   * object; anything else it throws is answered with -32603 and reported as ERR_RPC_HANDLER_THREW.
   */
  handle<M extends MethodName<Local>>(
    method: M,
    handler: RpcHandler<Local, M, Connection<Data, Remote>>,
    options?: HandleOptions,
  ): this {
    if (this.rpc === undefined) throw new TypeError('handle() needs the "rpc" option.');
    this.rpc.handle(method, handler, options);
    return this;
  }

  /**
   * Aggregate counters, computed when read (nothing is added to the message path): open
   * connections are summed, closed ones were added up as they closed.
   */
  get stats(): StreamServerStats {
    let { bytesIn, bytesOut, messagesIn, messagesOut } = this.closedTotals;
    let pendingBytes = 0;
    for (const conn of this.registry.values()) {
      const stats = conn.stats;
      bytesIn += stats.bytesIn;
      bytesOut += stats.bytesOut;
      messagesIn += stats.messagesIn;
      messagesOut += stats.messagesOut;
      pendingBytes += conn.pendingBytes;
    }
    const budget = this.settings.budget as MemoryBudget;
    return {
      connections: this.registry.size,
      connectionsTotal: this.nextId,
      refused: { maxConnections: this.refusedTotal, handshake: this.handshakesRefused },
      bytesIn,
      bytesOut,
      messagesIn,
      messagesOut,
      pendingBytes,
      errors: this.errorsByCode(),
      memoryBudget: { used: budget.used, limit: budget.limit },
    };
  }

  /** Connections refused by the `handshake` since the server was created. */
  get handshakesRefused(): number {
    return this.handshake?.refused ?? 0;
  }

  protected failPeer(conn: Connection<Data, Remote>, err: SockframeError): void {
    conn.fault(err);
  }

  /** @internal */
  protected override handlerStarted(conn: Connection<Data, Remote>): void {
    conn.handlerStarted();
  }

  /** @internal */
  protected override handlerSettled(conn: Connection<Data, Remote>): void {
    conn.handlerSettled();
  }

  /** Whether one more descriptor can be opened; reports a shortage once and its end. */
  private checkDescriptors(): void {
    try {
      closeSync(openSync(devNull, 'r'));
    } catch (err) {
      if (isOutOfDescriptors(err)) this.noteDescriptorShortage(err);
      return;
    }
    if (this.descriptorShortage === undefined) return;
    this.log.info({ code: this.descriptorShortage }, 'file descriptors available again: accepting');
    this.descriptorShortage = undefined;
  }

  private noteDescriptorShortage(err: unknown): void {
    if (this.descriptorShortage !== undefined) return;
    const code = (err as { code: string }).code;
    this.descriptorShortage = code;
    const cause = Object.assign(
      new Error(
        `${code}: the process is out of file descriptors; new connections are refused until some are closed`,
      ),
      { code, syscall: 'accept' },
    );
    this.reportError(new SocketError(cause), undefined);
  }

  protected async shutdown(timeout: number, wasListening: boolean): Promise<void> {
    clearInterval(this.descriptorCheck);
    this.descriptorCheck = undefined;
    const serverClosed = new Promise<void>((resolve) => {
      if (wasListening) this.server.close(() => resolve());
      else resolve();
    });
    this.handshake?.abandonAll();
    const open = [...this.registry.values()];
    this.log.info({ connections: open.length, timeoutMs: timeout }, 'closing');
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.race([Promise.all(open.map((conn) => conn.closeFor('server-closing'))), expired]);
    clearTimeout(timer);
    const left =
      this.wrappedSockets !== undefined
        ? [...this.wrappedSockets]
        : open.map((conn) => conn.rawSocket).filter((socket) => !socket.closed);
    if (left.length > 0) {
      this.log.warn({ connections: left.length }, 'destroying connections left at the close timeout');
      const gone = left.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      // Through the connection where there is one, so that its close reason counts what was unsent.
      for (const conn of open) conn.destroy();
      for (const socket of left) socket.destroy();
      await Promise.all(gone);
    }
    // A destroyed socket reports its close a little later; every 'close' event comes before this resolves.
    await Promise.all(open.map((conn) => conn.whenClosed()));
    await serverClosed;
    this.afterClose();
  }

  private accept(socket: Socket): void {
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    socket.allowHalfOpen = true;
    // Read once now: net.Socket keeps the peer's address after the close, for the close event's
    // listeners and the logs. (Its own address it forgets, so that is read on demand.)
    void socket.remoteAddress;
    const id = ++this.nextId;
    // Decided once per connection, so that the message path costs nothing when not tracing.
    const handshake = this.handshake;
    const handlers =
      this.rpcHandlers ??
      (handshake !== undefined
        ? handshake.heldHandlers(this.handlers)
        : this.log.isLevelEnabled('trace')
          ? this.tracingHandlers
          : this.handlers);
    let conn: Connection<Data, Remote>;
    try {
      conn = new Connection<Data, Remote>(id, socket, this.settings, handlers, this.connectionLog);
    } catch (err) {
      // The framing factory threw (or made something that is not a framing): no connection.
      socket.destroy();
      this.reportError(new FramingHookError(err), undefined);
      return;
    }
    tuneSocket(socket, this.settings.noDelay, this.settings.keepAlive);
    if (handshake === undefined) {
      if (this.rpc !== undefined) conn.rpcPeer = new RpcPeer(this.rpc, conn);
      this.admit(conn);
      return;
    }
    attachHandshake(handshake, conn, this.rpc, () => this.admit(conn));
  }

  /** A connection is in: registered, then 'connect'. */
  private admit(conn: Connection<Data, Remote>): void {
    this.registry.set(conn.id, conn);
    if (conn.logsAt('info')) conn.logger.info('connection accepted');
    this.dispatchConnect(conn);
  }

  /** Listens on a net.Server, mapping EADDRINUSE to AddressInUseError. */
  protected listenNet(options: object, describe: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.server.off('error', onError);
        this.server.off('listening', onListening);
        this.server.off('close', onClose);
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        settle();
        reject(err.code === 'EADDRINUSE' ? new AddressInUseError(describe, err) : new SocketError(err));
      };
      const onListening = (): void => {
        settle();
        resolve();
      };
      // close() while the address is being resolved: net.Server then never listens nor fails.
      const onClose = (): void => {
        settle();
        reject(new ServerClosedError('The server was closed before it started listening.'));
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.once('close', onClose);
      this.server.listen(options);
    });
  }
}
