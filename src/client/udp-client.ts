import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ConnectAbortedError, NotConnectedError, SocketError, type SockframeError } from '../errors';
import type { Payload } from '../payload';
import { SendWindow } from '../send-window';
import {
  checkBufferSizes,
  checkUdpType,
  type BufferSizes,
  DatagramReader,
  encodeDatagram,
  maxDatagramSize,
  resolveDatagramFraming,
  type UdpType,
} from '../datagram';
import type { Framing, FramingOption } from '../framing/framing';
import { componentLogger, type LoggerOption } from '../logger';
import { checkOptionKeys, checkPort, checkSize, checkString, optionKeys } from '../options';
import { checkCloseTimeout, type CloseOptions } from '../options';
import { connectSignal, joinAttempt, SocketClient, type ClientStats } from './socket-client';

/** Options of a UdpClient; `type` and `port` are required. */
export interface UdpClientOptions {
  /** The socket type; it must match the server's address family. */
  type: UdpType;
  /** The server's port. */
  port: number;
  /**
   * The server's host name or address.
   * @default 'localhost'
   */
  host?: string;
  /**
   * When given, each datagram received must be exactly one message under it (else it is dropped
   * with ERR_INVALID_FRAME_LENGTH) and send() frames with its encoder. A factory is called once.
   * @default none: datagrams pass as they are
   */
  framing?: FramingOption;
  /**
   * The largest datagram accepted, in bytes; larger ones are dropped with ERR_FRAME_TOO_LARGE.
   * @default the largest datagram of the type: 65507 (udp4) or 65527 (udp6)
   */
  maxMessageSize?: number;
  /**
   * The local address to bind.
   * @default all interfaces
   */
  localAddress?: string;
  /**
   * The local port to bind; 0 picks a free one.
   * @default 0
   */
  localPort?: number;
  /** SO_RCVBUF in bytes. @default the system's */
  recvBufferSize?: number;
  /** SO_SNDBUF in bytes. @default the system's */
  sendBufferSize?: number;
  /**
   * A pino logger; the client logs on `child({ component: 'udp-client' })`.
   * @default silent
   */
  logger?: LoggerOption;
}

const UDP_CLIENT_KEYS = optionKeys<UdpClientOptions>()(
  'type',
  'port',
  'host',
  'framing',
  'maxMessageSize',
  'localAddress',
  'localPort',
  'recvBufferSize',
  'sendBufferSize',
  'logger',
);

/**
 * Counters of a UdpClient since it was created: the fields every client has (`messagesOut` is
 * `datagramsOut`, `pendingBytes` the bytes handed to the socket and not yet sent,
 * `reconnectAttempts` always 0), and the datagram counters.
 */
export interface UdpClientStats extends ClientStats {
  readonly datagramsIn: number;
  readonly bytesIn: number;
  /** Messages delivered to the 'message' listeners. */
  readonly messagesIn: number;
  /** Datagrams dropped as too large or, under a framing, not exactly one message. */
  readonly rejected: number;
  readonly datagramsOut: number;
  readonly bytesOut: number;
}

export interface UdpEndpoint {
  address: string;
  port: number;
  family: string;
}

/**
 * A UDP client over a connected node:dgram socket: it sends to, and only hears from, one server.
 * Datagram boundaries are kept. A fault (a malformed datagram, ICMP port unreachable reported as
 * ERR_SOCKET with syscallCode 'ECONNREFUSED') is an 'error' event; the client stays connected,
 * since a datagram socket has no connection to lose.
 */
export class UdpClient extends SocketClient {
  readonly type: UdpType;
  private readonly host: string;
  private readonly port: number;
  private readonly local: { address?: string; port: number } | undefined;
  private readonly bufferSizes: BufferSizes;
  private readonly framing: Framing | undefined;
  private readonly reader: DatagramReader;
  private readonly maxDatagram: number;

  private socket: Socket | undefined;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Datagrams in flight; a send() that returned false is owed a 'drain' once they fall back. */
  private readonly window = new SendWindow<UdpClient>();

  private datagramsIn = 0;
  private bytesIn = 0;
  private messagesIn = 0;
  private rejected = 0;
  private datagramsOut = 0;
  private bytesOut = 0;

  constructor(options: UdpClientOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('UdpClient options must be an object with a type and a port.');
    }
    checkOptionKeys(new.target.name, options, UDP_CLIENT_KEYS);
    const type = checkUdpType(options.type);
    super(componentLogger(options.logger, 'udp-client'));
    this.type = type;
    const port = checkPort('port', options.port, 1);
    const host = checkString('host', options.host, 'localhost');
    if (type === 'udp4' && isIPv6(host)) {
      throw new TypeError(`The host ${host} is an IPv6 address; use type 'udp6'.`);
    }
    const localAddress = checkString('localAddress', options.localAddress, undefined);
    const localPort =
      options.localPort === undefined ? undefined : checkPort('localPort', options.localPort, 0);
    this.host = host;
    this.port = port;
    this.local =
      localAddress === undefined && localPort === undefined
        ? undefined
        : { ...(localAddress === undefined ? {} : { address: localAddress }), port: localPort ?? 0 };
    this.bufferSizes = checkBufferSizes(options);
    this.maxDatagram = maxDatagramSize(type);
    this.framing = resolveDatagramFraming(options.framing);
    this.reader = new DatagramReader(
      this.framing,
      checkSize('maxMessageSize', options.maxMessageSize, this.maxDatagram),
    );
  }

  /** True from connect() until close(). */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** The largest datagram this client's socket type can send. */
  get maxDatagramSize(): number {
    return this.maxDatagram;
  }

  get stats(): UdpClientStats {
    return {
      connected: this.connected,
      ...this.lifecycleStats(),
      datagramsIn: this.datagramsIn,
      bytesIn: this.bytesIn,
      messagesIn: this.messagesIn,
      messagesOut: this.datagramsOut,
      pendingBytes: this.window.pendingBytes,
      rejected: this.rejected,
      datagramsOut: this.datagramsOut,
      bytesOut: this.bytesOut,
    };
  }

  /** The local address the socket is bound to, while connected. */
  address(): UdpEndpoint | undefined {
    const bound = this.socket?.address();
    return bound === undefined
      ? undefined
      : { address: bound.address, port: bound.port, family: bound.family };
  }

  /** Binds (to `localAddress`/`localPort` when given) and connects the socket to the server. */
  connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = connectSignal(options);
    if (signal instanceof TypeError) return Promise.reject(signal);
    if (this.closedForGood) return Promise.reject(new ConnectAbortedError('The client is closed'));
    if (this.socket !== undefined) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(new ConnectAbortedError('Aborted', signal.reason));
    this.unfinish();
    if (this.connecting !== undefined) return joinAttempt(this.connecting, signal);
    this.connecting = this.attempt(signal).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * Sends one datagram, framed when a framing with an encoder was given. Throws
   * ERR_DATAGRAM_TOO_LARGE when it would not fit, ERR_NOT_CONNECTED before connect() and after
   * close(). Returns false when more than 256 KiB sent have not left the socket yet; 'drain'
   * follows once they have.
   */
  send(payload: Payload): boolean {
    const socket = this.socket;
    if (socket === undefined) {
      throw new NotConnectedError(
        this.closedForGood
          ? 'The client is closed'
          : `Not connected to ${this.describeTarget()}; call connect() first`,
      );
    }
    const { data, size } = encodeDatagram(this.framing, payload, this.maxDatagram);
    socket.send(data, (err) => this.sendDone(err, size));
    this.window.sent(size);
    this.datagramsOut++;
    this.bytesOut += size;
    return this.window.answer(this);
  }

  /**
   * Waits up to `timeout` for datagrams already sent to leave, then closes the socket for good.
   * Idempotent; 'close' is emitted with `{ kind: 'closed' }` when the client was connected.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const timeout = checkCloseTimeout(options);
    // Aborts an attempt under way.
    this.closeForGood();
    const socket = this.socket;
    this.socket = undefined;
    this.closing = this.shutdown(socket, timeout);
    return this.closing;
  }

  /** A listener threw: reported as ERR_LISTENER_THREW. The socket stays open. */
  protected failConnection(err: SockframeError): void {
    this.reportError(err);
  }

  private describeTarget(): string {
    return isIPv6(this.host) ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  private attempt(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const closed = this.closeSignal;
      const target = this.describeTarget();
      this.log.debug({ target }, 'connecting');
      const socket = createSocket({ type: this.type, ...this.bufferSizes });
      let settled = false;
      const cleanup = (): void => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('connect', onConnect);
        closed.removeEventListener('abort', onClose);
      };
      const fail = (err: SockframeError): void => {
        cleanup();
        // Nothing listens any more; a late error must not reach the process.
        socket.on('error', () => {});
        socket.close();
        reject(err);
      };
      const onError = (err: Error): void => fail(new SocketError(err));
      const onAbort = (): void => fail(new ConnectAbortedError('Aborted', signal?.reason));
      const onClose = (): void => fail(closed.reason as SockframeError);
      const onConnect = (): void => {
        cleanup();
        this.adopt(socket, target);
        resolve();
      };
      closed.addEventListener('abort', onClose, { once: true });
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('error', onError);
      socket.once('connect', onConnect);
      const local = this.local;
      if (local === undefined) {
        socket.connect(this.port, this.host);
      } else {
        socket.bind(local, () => {
          if (!settled) socket.connect(this.port, this.host);
        });
      }
    });
  }

  private adopt(socket: Socket, target: string): void {
    this.socket = socket;
    socket.on('message', (datagram: Buffer) => this.onDatagram(datagram));
    socket.on('error', (err) => this.reportError(new SocketError(err)));
    this.log.info({ target, local: this.address() }, 'connected');
    this.dispatchConnect();
  }

  private onDatagram(datagram: Buffer): void {
    if (this.socket === undefined) return;
    this.datagramsIn++;
    this.bytesIn += datagram.length;
    const message = this.reader.read(datagram);
    if (!Buffer.isBuffer(message)) {
      this.rejected++;
      this.reportError(message);
      return;
    }
    this.messagesIn++;
    this.dispatchMessage(message);
  }

  private sendDone(err: Error | null, size: number): void {
    const due = this.window.done(size);
    // Once closed, neither a late error nor a 'drain' is news to anyone.
    if (this.socket === undefined) return;
    if (err !== null) this.reportError(new SocketError(err));
    if (due !== undefined) this.dispatchSimple('drain');
  }

  private async shutdown(socket: Socket | undefined, timeout: number): Promise<void> {
    if (socket !== undefined) {
      const left = await this.window.settle(timeout);
      if (left.datagrams > 0) this.log.warn(left, 'datagrams left unsent at the close timeout');
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      this.log.info({ ...this.stats }, 'client closed');
      this.dispatchClose({ kind: 'closed' });
    } else {
      this.log.info('client closed');
    }
  }
}
