import { TypedEmitter } from 'tiny-typed-emitter';
import type { TrafficStats } from '../traffic-stats';
import type { Logger } from 'pino';
import {
  AdapterMessageError,
  AdapterUnavailableError,
  AlreadyListeningError,
  describe,
  ListenerError,
  NotConnectedError,
  ServerClosedError,
  SockframeError,
} from '../errors';
import {
  callGuarded,
  emitGuarded,
  isPeerFault,
  isThenable,
  UnobservedFaults,
  type AnyListener,
  type FaultSink,
} from '../dispatch';
import { CHANNELS } from '../diagnostics';
import { FLOOD_LOG_INTERVAL_MS, LogThrottle } from '../logger';
import { checkCloseTimeout, type CloseOptions } from '../options';
import type { CloseReason } from '../close-reason';
import type { ServerPeer } from '../peer';
import { toBuffer, type Payload } from '../payload';
import type { AdapterHooks, ServerAdapter } from '../adapters/adapter';

/** A connection refused because `maxConnections` was reached. */
/**
 * What `server.stats` of every server holds (StreamServerStats and UdpServerStats add their own
 * fields). Counters run from the server's creation; a UdpServer's peers are its connections.
 */
export interface ServerStats extends TrafficStats {
  /** Open connections (UDP: peers in the table) now. */
  readonly connections: number;
  /** Connections accepted (UDP: peers admitted) since the server was created. */
  readonly connectionsTotal: number;
  /** Connections refused, by reason (UDP: `maxConnections` counts datagrams dropped at maxPeers). */
  readonly refused: { readonly maxConnections: number; readonly handshake: number };
}

export interface DropInfo {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly reason: 'max-connections' | 'max-peers';
}

const DROP_MESSAGES: Record<DropInfo['reason'], string> = {
  'max-connections': 'refused',
  'max-peers': 'datagrams dropped: peer table full',
};

/** The events of every server. `P` is the peer type: a Connection, or a UDP peer. */
export interface ServerEvents<P, A> {
  /** The server is listening at this address. */
  listening: (address: A) => void;
  /** A peer connected (for UDP: sent its first datagram). */
  connect: (peer: P) => void;
  /** One whole message from a peer. */
  message: (peer: P, message: Buffer) => void;
  /** A peer went away; `reason.kind === 'error'` when it was closed for a fault. */
  close: (peer: P, reason: CloseReason) => void;
  /** A fault; `peer` is undefined for server-level errors. The peer is then closed. */
  error: (err: SockframeError, peer: P | undefined) => void;
  /** A peer refused by a limit. */
  drop: (info: DropInfo) => void;
  /** A JSON-RPC notification from a peer (stream servers with the `rpc` option). */
  notification: (peer: P, method: string, params: unknown) => void;
}

/** Where a server is in its life: listen() and close() move it on, each once. */
export type ServerState = 'new' | 'listening' | 'closing' | 'closed';

/**
 * What every server shares: the listen and close lifecycle, typed events, the registry of open
 * peers, listener isolation and the subclass hooks. Each transport (the stream servers, UDP)
 * implements only its own part of the lifecycle: bind, start, unbind and shut down. Subclass
 * hooks run before the matching event's listeners.
 */
export abstract class SocketServer<P extends ServerPeer, L, A> extends TypedEmitter<ServerEvents<P, A>> {
  /** @internal Where every guarded call of this server's listeners and hooks reports a fault. */
  protected readonly listenerFaults: FaultSink<P> = {
    listenerFault: (thrown, event, peer) => this.listenerThrew(thrown, event, peer),
  };
  private phase: ServerState = 'new';
  private boundAddress: A | undefined = undefined;
  private closing: Promise<void> | undefined;
  protected readonly log: Logger;
  protected readonly registry = new Map<P['id'], P>();
  /** The 'message' listeners, cached: emit() costs a megamorphic lookup per message. */
  private messageListeners: ((peer: P, message: Buffer) => void)[] | undefined;
  /** Carries broadcasts to and from the other instances; undefined: this process only. */
  private readonly adapter: ServerAdapter | undefined;
  /** The adapter's attach, from listen() until close() has released it. */
  private adapterAttaching: Promise<void> | undefined;
  /** True once attached and until closing: broadcasts are published only then. */
  private adapterAttached = false;
  /** Refusals are logged at most once per interval; a flood makes one record per interval. */
  private readonly dropLog = new LogThrottle<DropInfo>(FLOOD_LOG_INTERVAL_MS, (count, latest, atOnce) =>
    this.logDrops(count, latest, atOnce),
  );
  private droppedTotal = 0;
  /** Faults reported on 'error' since the server was created, by code. */
  private readonly errorCounts = new Map<string, number>();
  /** Faults nobody observes become process warnings. */
  private readonly unobserved: UnobservedFaults;

  protected constructor(log: Logger, adapter?: ServerAdapter) {
    super();
    this.log = log;
    this.adapter = adapter;
    this.unobserved = new UnobservedFaults(new.target.name);
  }

  // Every way of adding or removing a listener drops the cached 'message' listeners (once()
  // wrappers remove themselves through removeListener). Meta-listeners ('newListener') are not
  // used for this, so that removing those cannot freeze the cache.
  override on<U extends keyof ServerEvents<P, A>>(event: U, listener: ServerEvents<P, A>[U]): this {
    this.messageListeners = undefined;
    return super.on(event, listener);
  }

  override addListener<U extends keyof ServerEvents<P, A>>(event: U, listener: ServerEvents<P, A>[U]): this {
    this.messageListeners = undefined;
    return super.addListener(event, listener);
  }

  override prependListener<U extends keyof ServerEvents<P, A>>(
    event: U,
    listener: ServerEvents<P, A>[U],
  ): this {
    this.messageListeners = undefined;
    return super.prependListener(event, listener);
  }

  override once<U extends keyof ServerEvents<P, A>>(event: U, listener: ServerEvents<P, A>[U]): this {
    this.messageListeners = undefined;
    return super.once(event, listener);
  }

  override prependOnceListener<U extends keyof ServerEvents<P, A>>(
    event: U,
    listener: ServerEvents<P, A>[U],
  ): this {
    this.messageListeners = undefined;
    return super.prependOnceListener(event, listener);
  }

  override off<U extends keyof ServerEvents<P, A>>(event: U, listener: ServerEvents<P, A>[U]): this {
    this.messageListeners = undefined;
    return super.off(event, listener);
  }

  override removeListener<U extends keyof ServerEvents<P, A>>(
    event: U,
    listener: ServerEvents<P, A>[U],
  ): this {
    this.messageListeners = undefined;
    return super.removeListener(event, listener);
  }

  override removeAllListeners(event?: keyof ServerEvents<P, A>): this {
    this.messageListeners = undefined;
    // EventEmitter tells "no argument" from an undefined one.
    if (event === undefined) super.removeAllListeners();
    else super.removeAllListeners(event);
    return this;
  }

  /** The open peers, by id. */
  get connections(): ReadonlyMap<P['id'], P> {
    return this.registry;
  }

  /** True while listening and not closing. */
  get listening(): boolean {
    return this.phase === 'listening';
  }

  /** The bound address, or undefined when not listening yet. */
  address(): A | undefined {
    return this.boundAddress;
  }

  /** Where the server is in its life. */
  protected get state(): ServerState {
    return this.phase;
  }

  /**
   * Attaches the adapter (if any), binds, and resolves with the bound address, once per server:
   * a second call rejects with ERR_ALREADY_LISTENING, one after close() with ERR_SERVER_CLOSED.
   * When binding fails the server can listen again; close() meanwhile makes it reject with
   * ERR_SERVER_CLOSED and leaves nothing bound.
   */
  async listen(options: L): Promise<A> {
    if (this.phase !== 'new') {
      throw this.phase === 'listening'
        ? new AlreadyListeningError()
        : new ServerClosedError('The server is closed; create a new one to listen again.');
    }
    this.checkListen(options);
    this.phase = 'listening';
    try {
      await this.attachAdapter();
      // close() while the adapter was attaching: do not bind at all.
      if (this.phase === 'listening') await this.bind(options);
    } catch (err) {
      await this.detachAdapter();
      if (this.phase === 'listening') this.phase = 'new';
      throw err;
    }
    if (this.phase !== 'listening') {
      // close() was called while binding, and did not see what bind() took.
      await this.unbind();
      throw new ServerClosedError('The server was closed before it started listening.');
    }
    const address = this.started();
    this.boundAddress = address;
    this.log.info({ address, ...this.listenDetails() }, 'listening');
    this.dispatchListening(address);
    return address;
  }

  /**
   * Stops accepting at once, lets peers finish, and resolves when all are closed; what is still
   * open after `timeout` (default 5000 ms) is destroyed. A second call returns the first one's
   * promise.
   */
  close(options?: CloseOptions): Promise<void> {
    const timeout = checkCloseTimeout(options);
    // Refusals held back by the log's rate limit are reported before close() resolves.
    this.closing ??= this.closeOnce(timeout).finally(() => {
      this.dropLog.flush();
      if (CHANNELS.serverClosed.hasSubscribers) CHANNELS.serverClosed.publish({ server: this });
    });
    return this.closing;
  }

  private async closeOnce(timeout: number): Promise<void> {
    const wasListening = this.phase === 'listening';
    this.phase = 'closing';
    await this.shutdown(timeout, wasListening);
    await this.detachAdapter();
    this.phase = 'closed';
    this.log.info(this.closedDetails(), 'closed');
  }

  // The transport's part of the lifecycle.
  /** Throws a TypeError for listen() options that cannot work, before anything starts. */
  protected checkListen(_options: L): void {}
  /** Binds; rejects with a SockframeError (or a TypeError for bad options). */
  protected abstract bind(options: L): Promise<void>;
  /** Releases what bind() took, when close() came while it ran. */
  protected abstract unbind(): Promise<void>;
  /** Starts serving on what bind() took; returns the bound address. */
  protected abstract started(): A;
  /**
   * Closes peers and what bind() took; run once by close() with its validated timeout, before
   * the adapter is released. `wasListening` is false when close() came before listen() finished.
   */
  protected abstract shutdown(timeout: number, wasListening: boolean): Promise<void>;
  /** Fields of the 'listening' log record beside the address. */
  protected listenDetails(): object {
    return {};
  }
  /** Fields of the 'closed' log record. */
  protected closedDetails(): object {
    return {};
  }

  /**
   * Sends one message to every open peer (that `filter` accepts); returns how many peers of this
   * server it was sent to. With an adapter, a broadcast without a filter also goes to every open
   * peer of the other instances; one with a filter stays here, since a function cannot be
   * evaluated in another process.
   */
  broadcast(payload: Payload, filter?: (peer: P) => boolean): number {
    if (!this.adapterAttached || filter !== undefined) return this.broadcastLocal(payload, filter);
    const bytes = toBuffer(payload);
    const sent = this.broadcastLocal(bytes, undefined);
    this.publish(this.adapter as ServerAdapter, bytes);
    return sent;
  }

  /** Sends one message to every open peer of this server (that `filter` accepts). */
  protected abstract broadcastLocal(payload: Payload, filter: ((peer: P) => boolean) | undefined): number;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Hooks for subclasses: override instead of (or beside) subscribing to the events.
  /** Called for each new peer, before the 'connect' listeners. */
  protected onConnect(_peer: P): void {}
  /** Called for each whole message, before the 'message' listeners. */
  protected onMessage(_peer: P, _message: Buffer): void {}
  /** Called when a peer has gone, before the 'close' listeners. */
  protected onClose(_peer: P, _reason: CloseReason): void {}
  /** Called for each fault, before the 'error' listeners. */
  protected onError(_err: SockframeError, _peer: P | undefined): void {}

  /** Closes one peer for a fault; the fault is then reported through reportError. */
  protected abstract failPeer(peer: P, err: SockframeError): void;

  /** Starts the adapter, if any; listen() waits for it so that remote broadcasts arrive from then on. */
  protected attachAdapter(): Promise<void> {
    const adapter = this.adapter;
    if (adapter === undefined) return Promise.resolve();
    const hooks: AdapterHooks = {
      deliver: (payload) => this.deliverRemote(adapter, payload),
      error: (err) => this.reportError(err, undefined),
      log: this.log.child({ adapter: adapter.name }),
    };
    const attaching: Promise<void> = Promise.resolve(adapter.attach(hooks)).then(() => {
      // close() may have come first: then the adapter is being released, not used.
      if (this.adapterAttaching === attaching) this.adapterAttached = true;
    });
    this.adapterAttaching = attaching;
    return attaching;
  }

  /** Stops the adapter after a failed listen() or once close() has closed every peer. */
  protected async detachAdapter(): Promise<void> {
    const adapter = this.adapter;
    const attaching = this.adapterAttaching;
    if (adapter === undefined || attaching === undefined) return;
    this.adapterAttaching = undefined;
    const attached = this.adapterAttached;
    this.adapterAttached = false;
    // An attach still waiting (for a Redis that does not answer, say) is told to stop now rather
    // than left to run out its attachTimeout: close() is then not held up by it.
    if (!attached) await this.closeAdapter(adapter);
    try {
      await attaching;
    } catch {
      return; // a failed attach released what it took
    }
    if (attached) await this.closeAdapter(adapter);
  }

  private async closeAdapter(adapter: ServerAdapter): Promise<void> {
    try {
      await adapter.close();
    } catch (err) {
      this.reportError(adapterFault(adapter, err, 'could not be closed'), undefined);
    }
  }

  private publish(adapter: ServerAdapter, payload: Buffer): void {
    try {
      const pending = adapter.publish(payload);
      if (pending !== undefined) {
        pending.then(undefined, (err: unknown) =>
          this.reportError(adapterFault(adapter, err, 'could not publish a broadcast'), undefined),
        );
      }
    } catch (err) {
      this.reportError(adapterFault(adapter, err, 'could not publish a broadcast'), undefined);
    }
  }

  private deliverRemote(adapter: ServerAdapter, payload: Buffer): void {
    if (this.adapterAttaching === undefined) return; // closed: late deliveries are not for us
    try {
      this.broadcastLocal(payload, undefined);
    } catch (err) {
      const reason = describe(err);
      this.reportError(
        new AdapterMessageError(
          adapter.name,
          `A broadcast from another instance could not be sent here: ${reason}`,
          err,
        ),
        undefined,
      );
    }
  }

  protected dispatchConnect(peer: P): void {
    if (CHANNELS.connectionOpen.hasSubscribers) CHANNELS.connectionOpen.publish({ server: this, peer });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onConnect, [peer], 'connect', this.listenerFaults, peer)) return;
    emitGuarded(this, 'connect', [peer], this.listenerFaults, peer);
  }

  protected dispatchMessage(peer: P, message: Buffer): void {
    // rawListeners() keeps once() wrappers, so this behaves as emit() does.
    const listeners = (this.messageListeners ??= this.rawListeners('message'));
    try {
      let result: unknown = this.onMessage(peer, message);
      if (isThenable(result)) this.trackHandler(peer, result);
      for (let i = 0; i < listeners.length; i++) {
        result = (listeners[i] as AnyListener).call(this, peer, message);
        if (isThenable(result)) this.trackHandler(peer, result);
      }
    } catch (err) {
      this.listenerThrew(err, 'message', peer);
    }
  }

  /** A message handler returned a promise: the peer is told while it runs, and its rejection is a fault. */
  private trackHandler(peer: P, pending: PromiseLike<unknown>): void {
    this.handlerStarted(peer);
    Promise.resolve(pending).then(
      () => this.handlerSettled(peer),
      (err: unknown) => {
        this.listenerThrew(err, 'message', peer);
        this.handlerSettled(peer);
      },
    );
  }

  /** @internal A message handler for `peer` began running asynchronously (streams keep writing for it). */
  protected handlerStarted(_peer: P): void {}
  /** @internal That handler's promise settled. */
  protected handlerSettled(_peer: P): void {}

  protected dispatchClose(peer: P, reason: CloseReason): void {
    if (CHANNELS.connectionClose.hasSubscribers) {
      CHANNELS.connectionClose.publish({ server: this, peer, reason });
    }
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onClose, [peer, reason], 'close', this.listenerFaults)) return;
    emitGuarded(this, 'close', [peer, reason], this.listenerFaults);
  }

  /**
   * A listener or hook threw or rejected: ERR_LISTENER_THREW, and the peer it concerns is
   * closed. A reply that can no longer be written (ERR_NOT_CONNECTED from a peer that is closing)
   * is reported as it is and closes nothing: messages still arriving are delivered.
   */
  private listenerThrew(thrown: unknown, event: string, peer: P | undefined): void {
    if (peer !== undefined && thrown instanceof NotConnectedError && !peer.isOpen) {
      this.reportError(thrown, peer, false);
      return;
    }
    const err = new ListenerError(event, thrown);
    if (peer !== undefined) this.failPeer(peer, err);
    else this.reportError(err, undefined);
  }

  /**
   * Reports a fault without ever throwing: a missing or throwing 'error' listener is logged.
   * A peer's fault is expected in production and logged at warn without a stack; anything else
   * (a throwing listener or hook, a failing server socket) is a bug or an outage: error, with
   * the stack.
   */
  protected reportError(
    err: SockframeError,
    peer: P | undefined,
    peerFault = isPeerFault(err, peer !== undefined),
  ): void {
    if (peerFault) this.log.warn({ code: err.code, detail: err.message, connId: peer?.id }, 'error');
    else this.log.error({ err, code: err.code, connId: peer?.id }, 'error');
    this.emitError(err, peer, peerFault);
  }

  /**
   * The 'error' event and onError() hook for a fault already logged; a throwing listener is
   * logged. When nobody observes the fault (no listener, no hook, no logger), it becomes a
   * process warning (rate-limited; only the first of the peers' faults).
   */
  protected emitError(
    err: SockframeError,
    peer: P | undefined,
    peerFault = isPeerFault(err, peer !== undefined),
  ): void {
    this.errorCounts.set(err.code, (this.errorCounts.get(err.code) ?? 0) + 1);
    if (CHANNELS.serverError.hasSubscribers) CHANNELS.serverError.publish({ server: this, peer, error: err });
    const heard = this.listenerCount('error') > 0 || this.onError !== SocketServer.prototype.onError;
    if (!heard && !this.log.isLevelEnabled(peerFault ? 'warn' : 'error')) {
      this.unobserved.note(err, peerFault);
    }
    const errorFault: FaultSink<P> = { listenerFault: (thrown) => this.errorListenerFault(thrown, peer) };
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onError, [err, peer], 'error', errorFault)) return;
    emitGuarded(this, 'error', [err, peer], errorFault);
  }

  /** An 'error' listener or hook threw: logged, or a warning when there is no logger. */
  private errorListenerFault(thrown: unknown, peer: P | undefined): void {
    this.log.error({ err: thrown, connId: peer?.id }, "an 'error' listener threw");
    if (!this.log.isLevelEnabled('error')) this.unobserved.note(new ListenerError('error', thrown), false);
  }

  /**
   * Reports a refused connection or dropped datagram: a 'drop' event each time, and a warn record
   * at most once per second, counting the refusals since the previous record, so that a flood of
   * them cannot flood the log.
   */
  /** Faults reported since the server was created, by code (a fresh object). */
  protected errorsByCode(): Record<string, number> {
    return Object.fromEntries(this.errorCounts);
  }

  /** Peers refused by a limit since the server was created. */
  protected get refusedTotal(): number {
    return this.droppedTotal;
  }

  protected dispatchDrop(info: DropInfo): void {
    this.droppedTotal++;
    if (CHANNELS.serverDrop.hasSubscribers) CHANNELS.serverDrop.publish({ server: this, info });
    this.dropLog.note(info);
    emitGuarded(this, 'drop', [info], this.listenerFaults);
  }

  /** Fields that explain a drop in its log record (the limit that was reached). */
  protected dropDetails(): object {
    return {};
  }

  /** One record for `count` drops; it names the peer when it is written for that one drop. */
  private logDrops(count: number, latest: DropInfo, atOnce: boolean): void {
    this.log.warn(
      {
        reason: latest.reason,
        ...(atOnce ? { remote: latest.remoteAddress, remotePort: latest.remotePort } : {}),
        dropped: count,
        droppedTotal: this.droppedTotal,
        ...this.dropDetails(),
      },
      DROP_MESSAGES[latest.reason],
    );
  }

  protected dispatchListening(address: A): void {
    if (CHANNELS.serverListening.hasSubscribers) CHANNELS.serverListening.publish({ server: this, address });
    emitGuarded(this, 'listening', [address], this.listenerFaults);
  }
}

/** An adapter's failure as a SockframeError: its own typed errors pass, anything else is wrapped. */
function adapterFault(adapter: ServerAdapter, err: unknown, what: string): SockframeError {
  if (err instanceof SockframeError) return err;
  const reason = describe(err);
  return new AdapterUnavailableError(adapter.name, `The ${adapter.name} adapter ${what}: ${reason}`, err);
}
