import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import {
  AdapterMessageError,
  AdapterUnavailableError,
  describe,
  ListenerError,
  SockframeError,
  type SockframeErrorCode,
} from '../errors';
import { FLOOD_LOG_INTERVAL_MS, LogThrottle } from '../logger';
import { checkCloseTimeout, type CloseOptions } from '../options';
import type { CloseReason } from '../connection';
import type { ServerPeer } from '../peer';
import { toBuffer, type Payload } from '../payload';
import type { AdapterHooks, ServerAdapter } from '../adapters/adapter';

/** A connection refused because `maxConnections` was reached. */
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
}

/** Faults caused by what a peer sent, or failed to send or read, in time. */
const PEER_FAULT_CODES: ReadonlySet<SockframeErrorCode> = new Set<SockframeErrorCode>([
  'ERR_FRAME_TOO_LARGE',
  'ERR_INVALID_FRAME_LENGTH',
  'ERR_MESSAGE_TIMEOUT',
  'ERR_IDLE_TIMEOUT',
  'ERR_SLOW_CONSUMER',
  'ERR_INCOMPLETE_MESSAGE',
  'ERR_DATAGRAM_TOO_LARGE',
]);

/** Whether `err` is the peer's doing; a socket failure counts when it is one peer's socket. */
function isPeerFault(err: SockframeError, peer: unknown): boolean {
  return PEER_FAULT_CODES.has(err.code) || (err.code === 'ERR_SOCKET' && peer !== undefined);
}

/**
 * What every server shares: typed events, the registry of open peers, listener isolation and
 * the subclass hooks. Subclass hooks run before the matching event's listeners.
 */
export abstract class SocketServer<P extends ServerPeer, L, A> extends TypedEmitter<ServerEvents<P, A>> {
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

  protected constructor(log: Logger, adapter?: ServerAdapter) {
    super();
    this.log = log;
    this.adapter = adapter;
    this.watchMessageListeners();
  }

  /** Drops the cached 'message' listeners whenever they change. */
  private watchMessageListeners(): void {
    const invalidate = (event: string | symbol): void => {
      if (event === 'message') this.messageListeners = undefined;
    };
    const emitter = this as unknown as NodeJS.EventEmitter;
    emitter.on('newListener', invalidate);
    emitter.on('removeListener', invalidate);
  }

  override removeAllListeners(event?: keyof ServerEvents<P, A>): this {
    // EventEmitter tells "no argument" from an undefined one.
    if (event === undefined) super.removeAllListeners();
    else super.removeAllListeners(event);
    this.messageListeners = undefined;
    // Without an event name this also removed the watchers above; put them back.
    if (event === undefined) this.watchMessageListeners();
    return this;
  }

  /** The open peers, by id. */
  get connections(): ReadonlyMap<P['id'], P> {
    return this.registry;
  }

  /** Starts listening; resolves with the bound address. */
  abstract listen(options: L): Promise<A>;

  /**
   * Stops accepting at once, lets peers finish, and resolves when all are closed; what is still
   * open after `timeout` (default 5000 ms) is destroyed. A second call returns the first one's
   * promise.
   */
  close(options?: CloseOptions): Promise<void> {
    const timeout = checkCloseTimeout(options);
    // Refusals held back by the log's rate limit are reported before close() resolves.
    this.closing ??= this.shutdown(timeout).finally(() => this.dropLog.flush());
    return this.closing;
  }

  /** The transport's close, run once by close() with its validated timeout. */
  protected abstract shutdown(timeout: number): Promise<void>;

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

  /** The bound address, or undefined when not listening. */
  abstract address(): A | undefined;

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
    try {
      this.onConnect(peer);
      this.emit('connect', peer);
    } catch (err) {
      this.failPeer(peer, new ListenerError('connect', err));
    }
  }

  protected dispatchMessage(peer: P, message: Buffer): void {
    // rawListeners() keeps once() wrappers, so this behaves as emit() does.
    const listeners = (this.messageListeners ??= this.rawListeners('message'));
    try {
      this.onMessage(peer, message);
      for (let i = 0; i < listeners.length; i++)
        (listeners[i] as (p: P, m: Buffer) => void).call(this, peer, message);
    } catch (err) {
      this.failPeer(peer, new ListenerError('message', err));
    }
  }

  protected dispatchClose(peer: P, reason: CloseReason): void {
    try {
      this.onClose(peer, reason);
      this.emit('close', peer, reason);
    } catch (err) {
      this.reportError(new ListenerError('close', err), undefined);
    }
  }

  /**
   * Reports a fault without ever throwing: a missing or throwing 'error' listener is logged.
   * A peer's fault is expected in production and logged at warn without a stack; anything else
   * (a throwing listener or hook, a failing server socket) is a bug or an outage: error, with
   * the stack.
   */
  protected reportError(err: SockframeError, peer: P | undefined, peerFault = isPeerFault(err, peer)): void {
    if (peerFault) this.log.warn({ code: err.code, detail: err.message, connId: peer?.id }, 'error');
    else this.log.error({ err, code: err.code, connId: peer?.id }, 'error');
    this.emitError(err, peer);
  }

  /** The 'error' event and onError() hook for a fault already logged; a throwing listener is logged. */
  protected emitError(err: SockframeError, peer: P | undefined): void {
    try {
      this.onError(err, peer);
      if (this.listenerCount('error') > 0) this.emit('error', err, peer);
    } catch (listenerErr) {
      this.log.error({ err: listenerErr, connId: peer?.id }, "an 'error' listener threw");
    }
  }

  /**
   * Reports a refused connection or dropped datagram: a 'drop' event each time, and a warn record
   * at most once per second, counting the refusals since the previous record, so that a flood of
   * them cannot flood the log.
   */
  protected dispatchDrop(info: DropInfo): void {
    this.droppedTotal++;
    this.dropLog.note(info);
    try {
      this.emit('drop', info);
    } catch (err) {
      this.reportError(new ListenerError('drop', err), undefined);
    }
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
    try {
      this.emit('listening', address);
    } catch (err) {
      this.reportError(new ListenerError('listening', err), undefined);
    }
  }
}

/** An adapter's failure as a SockframeError: its own typed errors pass, anything else is wrapped. */
function adapterFault(adapter: ServerAdapter, err: unknown, what: string): SockframeError {
  if (err instanceof SockframeError) return err;
  const reason = describe(err);
  return new AdapterUnavailableError(adapter.name, `The ${adapter.name} adapter ${what}: ${reason}`, err);
}
