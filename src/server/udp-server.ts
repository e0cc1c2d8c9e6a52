import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import {
  AddressInUseError,
  ListenerError,
  NotConnectedError,
  NotListeningError,
  SocketError,
  type SockframeError,
} from '../errors';
import type { CloseReason } from '../close-reason';
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
import { componentLogger, FLOOD_LOG_INTERVAL_MS, LogThrottle, type LoggerOption } from '../logger';
import {
  checkBoolean,
  checkOptionKeys,
  checkPort,
  checkSize,
  checkString,
  checkTime,
  optionKeys,
  show,
} from '../options';
import { UdpPeer, peerKey, type UdpPeerOwner } from '../udp-peer';
import { DEFAULT_CLOSE_TIMEOUT } from '../options';
import { SocketServer, type ServerStats } from './socket-server';
import { checkAdapter, type ServerAdapter } from '../adapters/adapter';

/** Options of a UdpServer; all but `type` are optional. */
export interface UdpServerOptions {
  /** The socket type: IPv4 or IPv6 (on udp6, IPv4 peers arrive as `::ffff:a.b.c.d` unless ipv6Only). */
  type: UdpType;
  /**
   * Peers kept at most. When the table is full, datagrams from new addresses are dropped (and
   * counted, with a 'drop' event); known peers keep working.
   * @default 10000
   */
  maxPeers?: number;
  /**
   * Milliseconds without a datagram from a peer before it expires ('close' with
   * `{ kind: 'expired' }`); 0 keeps peers until they are closed. Checked by one sweep every
   * quarter of this (at most every 5 s).
   * @default 30000
   */
  peerIdleTimeout?: number;
  /**
   * The largest datagram accepted, in bytes; larger ones are dropped with ERR_FRAME_TOO_LARGE.
   * @default the largest datagram of the type: 65507 (udp4) or 65527 (udp6)
   */
  maxMessageSize?: number;
  /**
   * When given, each datagram must be exactly one message under it (else it is dropped with
   * ERR_INVALID_FRAME_LENGTH), the message is delivered as the framing cuts it, and send()
   * frames with its encoder. A factory is called once. Without it datagrams pass as they are.
   * @default none
   */
  framing?: FramingOption;
  /**
   * SO_REUSEADDR: lets other sockets bind the same port (multicast listeners).
   * @default false
   */
  reuseAddr?: boolean;
  /**
   * On udp6, refuse IPv4 peers (IPV6_V6ONLY).
   * @default false
   */
  ipv6Only?: boolean;
  /**
   * SO_RCVBUF in bytes; the kernel may cap it (net.core.rmem_max).
   * @default the system's
   */
  recvBufferSize?: number;
  /**
   * SO_SNDBUF in bytes; the kernel may cap it (net.core.wmem_max).
   * @default the system's
   */
  sendBufferSize?: number;
  /**
   * A pino logger; the server logs on `child({ component: 'udp-server' })`.
   * @default silent
   */
  logger?: LoggerOption;
  /**
   * Carries broadcasts to the other instances of the service and theirs to this server's peers
   * (see the stream servers' `adapter` option).
   * @default none: broadcasts reach this server's peers only
   */
  adapter?: ServerAdapter;
}

const UDP_SERVER_KEYS = optionKeys<UdpServerOptions>()(
  'type',
  'maxPeers',
  'peerIdleTimeout',
  'maxMessageSize',
  'framing',
  'reuseAddr',
  'ipv6Only',
  'recvBufferSize',
  'sendBufferSize',
  'logger',
  'adapter',
);

/** The defaults of UdpServerOptions, in one place. */
export const UDP_SERVER_DEFAULTS = Object.freeze({
  maxPeers: 10_000,
  peerIdleTimeout: 30_000,
  reuseAddr: false,
  ipv6Only: false,
  closeTimeout: DEFAULT_CLOSE_TIMEOUT,
});

export interface UdpListenOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default all interfaces ('0.0.0.0' for udp4, '::' for udp6) */
  host?: string;
}

export interface UdpAddress {
  address: string;
  port: number;
  family: string;
}

/**
 * Counters of a UdpServer since it was created: the fields every server has (a peer counts as a
 * connection, `messagesOut` is `datagramsOut`, `refused.handshake` is always 0), and the datagram
 * counters.
 */
export interface UdpServerStats extends ServerStats {
  /** Peers in the table now. */
  readonly peers: number;
  /** Datagrams read from the socket while listening. */
  readonly datagramsIn: number;
  readonly bytesIn: number;
  /** Messages delivered to the 'message' listeners. */
  readonly messagesIn: number;
  /** Datagrams from new addresses dropped because the peer table was full. */
  readonly dropped: number;
  /** Datagrams dropped as too large or, under a framing, not exactly one message. */
  readonly rejected: number;
  readonly datagramsOut: number;
  readonly bytesOut: number;
  /** Peers that expired after peerIdleTimeout. */
  readonly expired: number;
}

const MAX_SWEEP_INTERVAL_MS = 5_000;

/**
 * A UDP server over node:dgram with the same events as the stream servers: a peer is an
 * address:port that sent a datagram, kept in a table bounded by `maxPeers` and expired after
 * `peerIdleTimeout`. Datagram boundaries are kept; a faulty datagram is dropped with an 'error'
 * event naming its peer, and the peer stays.
 */
export class UdpServer<Data = unknown> extends SocketServer<UdpPeer<Data>, UdpListenOptions, UdpAddress> {
  readonly type: UdpType;
  private readonly maxPeers: number;
  private readonly peerIdleTimeout: number;
  private readonly maxDatagram: number;
  private readonly framing: Framing | undefined;
  private readonly reader: DatagramReader;
  private readonly socketOptions: { reuseAddr: boolean; ipv6Only: boolean } & BufferSizes;
  private readonly owner: UdpPeerOwner<Data>;

  private socket: Socket | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Datagrams in flight; peers whose send() returned false get a 'drain' once they fall back. */
  private readonly window = new SendWindow<UdpPeer<Data>>();
  /** One sender can make rejections as fast as it can send: their records are rate-limited. */
  private readonly rejectLog = new LogThrottle<{ err: SockframeError; peer: UdpPeer<Data> }>(
    FLOOD_LOG_INTERVAL_MS,
    (count, { err, peer }, atOnce) => {
      if (atOnce)
        this.log.warn({ err, code: err.code, connId: peer.id, rejected: count }, 'datagram rejected');
      else this.log.warn({ rejected: count, rejectedTotal: this.rejected }, 'datagrams rejected');
    },
  );

  private datagramsIn = 0;
  private bytesIn = 0;
  private messagesIn = 0;
  private dropped = 0;
  private rejected = 0;
  private datagramsOut = 0;
  private bytesOut = 0;
  private expired = 0;
  private admitted = 0;
  /**
   * The peer of the last datagram: a flood from one address finds its peer without building the
   * table's string key. Used only while open (a closed peer has left the table).
   */
  private lastPeer: UdpPeer<Data> | undefined = undefined;

  constructor(options: UdpServerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError("UdpServer options must be an object with a type ('udp4' or 'udp6').");
    }
    checkOptionKeys(new.target.name, options, UDP_SERVER_KEYS);
    const type = checkUdpType(options.type);
    super(componentLogger(options.logger, 'udp-server'), checkAdapter(options.adapter));
    this.type = type;
    this.maxDatagram = maxDatagramSize(type);
    this.maxPeers = checkSize('maxPeers', options.maxPeers, UDP_SERVER_DEFAULTS.maxPeers);
    this.peerIdleTimeout = checkTime(
      'peerIdleTimeout',
      options.peerIdleTimeout,
      UDP_SERVER_DEFAULTS.peerIdleTimeout,
    );
    const maxMessageSize = checkSize('maxMessageSize', options.maxMessageSize, this.maxDatagram);
    this.framing = resolveDatagramFraming(options.framing);
    this.reader = new DatagramReader(this.framing, maxMessageSize);
    const ipv6Only = checkBoolean('ipv6Only', options.ipv6Only, UDP_SERVER_DEFAULTS.ipv6Only);
    if (ipv6Only && type !== 'udp6') {
      throw new TypeError('The "ipv6Only" option applies to udp6 servers only.');
    }
    this.socketOptions = {
      reuseAddr: checkBoolean('reuseAddr', options.reuseAddr, UDP_SERVER_DEFAULTS.reuseAddr),
      ipv6Only,
      ...checkBufferSizes(options),
    };
    this.owner = {
      sendTo: (peer, payload) => this.sendTo(peer, payload),
      closePeer: (peer, reason) => this.closePeer(peer, reason),
    };
  }

  /** The peer table, by `address:port`: the same map as `connections`. */
  get peers(): ReadonlyMap<string, UdpPeer<Data>> {
    return this.registry;
  }

  /** The largest datagram this server's socket type can send. */
  get maxDatagramSize(): number {
    return this.maxDatagram;
  }

  get stats(): UdpServerStats {
    return {
      connections: this.registry.size,
      connectionsTotal: this.admitted,
      refused: { maxConnections: this.dropped, handshake: 0 },
      messagesOut: this.datagramsOut,
      pendingBytes: this.window.pendingBytes,
      errors: this.errorsByCode(),
      peers: this.registry.size,
      datagramsIn: this.datagramsIn,
      bytesIn: this.bytesIn,
      messagesIn: this.messagesIn,
      dropped: this.dropped,
      rejected: this.rejected,
      datagramsOut: this.datagramsOut,
      bytesOut: this.bytesOut,
      expired: this.expired,
    };
  }

  override listen(options: UdpListenOptions = {}): Promise<UdpAddress> {
    return super.listen(options);
  }

  protected override checkListen(options: UdpListenOptions): void {
    listenTarget(options);
  }

  protected async bind(options: UdpListenOptions): Promise<void> {
    const { port, host } = listenTarget(options);
    const socket = createSocket({ type: this.type, ...this.socketOptions });
    try {
      await bindSocket(socket, port, host);
    } catch (err) {
      socket.close();
      throw err;
    }
    this.socket = socket;
  }

  protected unbind(): Promise<void> {
    this.socket?.close();
    this.socket = undefined;
    return Promise.resolve();
  }

  protected started(): UdpAddress {
    const socket = this.socket as Socket;
    socket.on('message', (datagram: Buffer, rinfo: RemoteInfo) => this.onDatagram(datagram, rinfo));
    socket.on('error', (err) => this.reportError(new SocketError(err), undefined));
    const bound = socket.address();
    return { address: bound.address, port: bound.port, family: bound.family };
  }

  protected override listenDetails(): object {
    return { maxPeers: this.maxPeers };
  }

  protected override closedDetails(): object {
    return { ...this.stats };
  }

  protected broadcastLocal(payload: Payload, filter: ((peer: UdpPeer<Data>) => boolean) | undefined): number {
    const { data, size } = encodeDatagram(this.framing, payload, this.maxDatagram);
    let sent = 0;
    for (const peer of this.registry.values()) {
      if (!peer.isOpen || (filter !== undefined && !filter(peer))) continue;
      this.transmit(peer, data, size);
      sent++;
    }
    return sent;
  }

  // ------------------------------------------------------------------ multicast and broadcast

  /** Joins a multicast group (IP_ADD_MEMBERSHIP), on `multicastInterface` or one the kernel picks. */
  addMembership(multicastAddress: string, multicastInterface?: string): void {
    this.socketCall('addMembership', (s) => s.addMembership(multicastAddress, multicastInterface));
  }

  /** Leaves a multicast group (IP_DROP_MEMBERSHIP). */
  dropMembership(multicastAddress: string, multicastInterface?: string): void {
    this.socketCall('dropMembership', (s) => s.dropMembership(multicastAddress, multicastInterface));
  }

  /** IP_MULTICAST_TTL: hops a multicast datagram sent by this server may take (0 to 255). */
  setMulticastTTL(ttl: number): void {
    this.socketCall('setMulticastTTL', (s) => s.setMulticastTTL(ttl));
  }

  /** IP_MULTICAST_LOOP: whether this host receives the multicast datagrams it sends. */
  setMulticastLoopback(flag: boolean): void {
    this.socketCall('setMulticastLoopback', (s) => s.setMulticastLoopback(flag));
  }

  /** The interface outgoing multicast datagrams leave by. */
  setMulticastInterface(multicastInterface: string): void {
    this.socketCall('setMulticastInterface', (s) => s.setMulticastInterface(multicastInterface));
  }

  /** SO_BROADCAST: allows sending to broadcast addresses. */
  setBroadcast(flag: boolean): void {
    this.socketCall('setBroadcast', (s) => s.setBroadcast(flag));
  }

  // ------------------------------------------------------------------ receiving

  private onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    if (this.state !== 'listening') return;
    this.datagramsIn++;
    this.bytesIn += datagram.length;
    const now = Date.now();
    let peer = this.lastPeer;
    if (
      peer === undefined ||
      peer.port !== rinfo.port ||
      peer.address !== rinfo.address ||
      peer.family !== rinfo.family ||
      !peer.isOpen
    ) {
      peer = this.findPeer(rinfo, now);
      if (peer === undefined) return;
      this.lastPeer = peer;
    }
    peer.noteReceived(datagram.length, now);
    const message = this.reader.read(datagram);
    if (!Buffer.isBuffer(message)) {
      this.rejectDatagram(peer, message);
      return;
    }
    this.messagesIn++;
    peer.noteDelivered();
    this.dispatchMessage(peer, message);
  }

  /** The open peer of `rinfo`, admitted when new; undefined when the table is full or it closed at once. */
  private findPeer(rinfo: RemoteInfo, now: number): UdpPeer<Data> | undefined {
    let peer = this.registry.get(peerKey(rinfo.address, rinfo.port, rinfo.family));
    if (peer === undefined) {
      if (this.registry.size >= this.maxPeers) {
        this.dropDatagram(rinfo);
        return undefined;
      }
      peer = this.admit(rinfo, now);
      // A 'connect' listener may have closed the peer or the server.
      if (!peer.isOpen) return undefined;
    }
    return peer;
  }

  private admit(rinfo: RemoteInfo, now: number): UdpPeer<Data> {
    const peer = new UdpPeer<Data>(this.owner, rinfo.address, rinfo.port, rinfo.family, now);
    this.admitted++;
    this.registry.set(peer.id, peer);
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ connId: peer.id, remote: peer.id, peers: this.registry.size }, 'new peer');
    }
    this.startSweep();
    this.dispatchConnect(peer);
    return peer;
  }

  private dropDatagram(rinfo: RemoteInfo): void {
    this.dropped++;
    this.dispatchDrop({ remoteAddress: rinfo.address, remotePort: rinfo.port, reason: 'max-peers' });
  }

  protected override dropDetails(): object {
    return { maxPeers: this.maxPeers };
  }

  /**
   * A datagram dropped for a fault of its own: reported like any fault, except that the log
   * record is rate-limited, since one sender can make these as fast as it can send.
   */
  private rejectDatagram(peer: UdpPeer<Data>, err: SockframeError): void {
    this.rejected++;
    peer.noteRejected();
    this.rejectLog.note({ err, peer });
    this.emitError(err, peer);
  }

  // ------------------------------------------------------------------ sending

  private sendTo(peer: UdpPeer<Data>, payload: Payload): boolean {
    if (!peer.isOpen) throw new NotConnectedError(`Peer ${peer.id} is closed`);
    const { data, size } = encodeDatagram(this.framing, payload, this.maxDatagram);
    this.transmit(peer, data, size);
    return this.window.answer(peer);
  }

  /**
   * Hands one datagram to the socket (a broadcast calls this per peer). Its bytes count as in
   * flight until its callback: that covers the address lookup node:dgram makes first, which
   * getSendQueueSize() does not see (and Deno's node:dgram has no getSendQueueSize at all).
   */
  private transmit(peer: UdpPeer<Data>, data: Buffer | readonly Buffer[], size: number): void {
    (this.socket as Socket).send(data, peer.port, peer.address, (err) => this.sendDone(peer, err, size));
    this.window.sent(size);
    this.datagramsOut++;
    this.bytesOut += size;
    peer.noteSent(size);
  }

  private sendDone(peer: UdpPeer<Data>, err: Error | null, size: number): void {
    const due = this.window.done(size);
    if (err !== null && this.state !== 'closed') this.reportError(new SocketError(err), peer);
    if (due !== undefined) this.drainPeers(due);
  }

  /** 'drain' on every open peer whose send() returned false. */
  private drainPeers(peers: readonly UdpPeer<Data>[]): void {
    for (const peer of peers) {
      if (!peer.isOpen) continue;
      try {
        peer.emit('drain');
      } catch (err) {
        this.failPeer(peer, new ListenerError('drain', err));
      }
    }
  }

  // ------------------------------------------------------------------ peers and closing

  protected failPeer(peer: UdpPeer<Data>, err: SockframeError): void {
    this.reportError(err, peer);
    this.closePeer(peer, { kind: 'error', error: err });
  }

  private closePeer(peer: UdpPeer<Data>, reason: CloseReason): void {
    if (!peer.isOpen) return;
    peer.markClosed();
    this.registry.delete(peer.id);
    if (this.lastPeer === peer) this.lastPeer = undefined;
    this.window.forget(peer);
    if (reason.kind === 'expired') this.expired++;
    if (this.registry.size === 0) this.stopSweep();
    if (this.log.isLevelEnabled('debug')) this.logPeerClosed(peer, reason);
    this.dispatchClose(peer, reason);
  }

  private logPeerClosed(peer: UdpPeer<Data>, reason: CloseReason): void {
    const stats = peer.stats;
    this.log.debug(
      {
        connId: peer.id,
        reason: reason.kind,
        error: reason.kind === 'error' ? reason.error.code : undefined,
        durationMs: Date.now() - stats.connectedAt,
        bytesIn: stats.bytesIn,
        bytesOut: stats.bytesOut,
        messagesIn: stats.messagesIn,
        messagesOut: stats.messagesOut,
        rejected: stats.rejected,
      },
      reason.kind === 'expired' ? 'peer expired' : 'peer closed',
    );
  }

  private startSweep(): void {
    if (this.sweepTimer !== undefined || this.peerIdleTimeout === 0) return;
    const interval = Math.max(10, Math.min(Math.ceil(this.peerIdleTimeout / 4), MAX_SWEEP_INTERVAL_MS));
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    // The socket keeps the process alive while listening; the sweep never should on its own.
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer === undefined) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Expires idle peers: one pass over the table, however many peers there are. */
  private sweep(): void {
    const now = Date.now();
    const cutoff = now - this.peerIdleTimeout;
    for (const peer of this.registry.values()) {
      if (peer.lastSeenAt <= cutoff) this.closePeer(peer, { kind: 'expired' });
    }
  }

  /**
   * Stops reading at once, closes every peer ('close' with `{ kind: 'server-closing' }`), waits
   * up to `timeout` for datagrams already sent to leave, then closes the socket.
   */
  protected async shutdown(timeout: number): Promise<void> {
    const socket = this.socket;
    this.stopSweep();
    this.log.info({ peers: this.registry.size, timeoutMs: timeout }, 'closing');
    for (const peer of [...this.registry.values()]) this.closePeer(peer, { kind: 'server-closing' });
    this.rejectLog.flush();
    if (socket !== undefined) {
      const left = await this.window.settle(timeout);
      if (left.datagrams > 0) this.log.warn(left, 'datagrams left unsent at the close timeout');
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      this.socket = undefined;
    }
  }

  /** Runs a socket option call; programmer mistakes stay TypeErrors, system refusals become ERR_SOCKET. */
  private socketCall(name: string, call: (socket: Socket) => void): void {
    const socket = this.socket;
    if (socket === undefined || this.state !== 'listening') {
      throw new NotListeningError(`${name}() needs a listening server; call listen() first`);
    }
    try {
      call(socket);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      throw new SocketError(err);
    }
  }
}

/** listen()'s options checked: the port (0: any free one) and host to bind. */
function listenTarget(options: unknown): { port: number; host: string | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`UdpServer.listen() takes an options object; got ${show(options)}.`);
  }
  const { port, host } = options as UdpListenOptions;
  return {
    port: port === undefined ? 0 : checkPort('port', port, 0),
    host: checkString('host', host, undefined),
  };
}

/** Binds a dgram socket, mapping EADDRINUSE to AddressInUseError. */
export function bindSocket(socket: Socket, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      socket.off('listening', onListening);
      reject(
        err.code === 'EADDRINUSE'
          ? new AddressInUseError(`${host ?? '*'}:${port}`, err)
          : new SocketError(err),
      );
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind(host === undefined ? { port } : { port, address: host });
  });
}
