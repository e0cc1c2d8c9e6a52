import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import { ListenerError, type SockframeError, type SockframeErrorCode } from '../errors';
import type { CloseReason, Payload } from '../connection';

/** A connection refused because `maxConnections` was reached. */
export interface DropInfo {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly reason: 'max-connections' | 'max-peers';
}

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

export interface CloseOptions {
  /**
   * Milliseconds to wait for peers to finish before destroying them.
   * @default 5000
   */
  timeout?: number;
}

/** The minimum a peer offers a server. */
export interface ServerPeer {
  readonly id: number | string;
  readonly isOpen: boolean;
}

/**
 * What every server shares: typed events, the registry of open peers, listener isolation and
 * the subclass hooks. Subclass hooks run before the matching event's listeners.
 */
export abstract class SocketServer<P extends ServerPeer, L, A> extends TypedEmitter<ServerEvents<P, A>> {
  protected readonly log: Logger;
  protected readonly registry = new Map<P['id'], P>();
  /** The 'message' listeners, cached: emit() costs a megamorphic lookup per message. */
  private messageListeners: ((peer: P, message: Buffer) => void)[] | undefined;

  protected constructor(log: Logger) {
    super();
    this.log = log;
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

  /** Stops accepting at once, lets peers finish, and resolves when all are closed. */
  abstract close(options?: CloseOptions): Promise<void>;

  /** Sends one message to every open peer (that `filter` accepts); returns how many were sent to. */
  abstract broadcast(payload: Payload, filter?: (peer: P) => boolean): number;

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
    try {
      this.onError(err, peer);
      if (this.listenerCount('error') > 0) this.emit('error', err, peer);
    } catch (listenerErr) {
      this.log.error({ err: listenerErr, connId: peer?.id }, "an 'error' listener threw");
    }
  }

  protected dispatchDrop(info: DropInfo): void {
    this.log.warn(
      { remote: info.remoteAddress, remotePort: info.remotePort, reason: info.reason },
      'refused',
    );
    try {
      this.emit('drop', info);
    } catch (err) {
      this.reportError(new ListenerError('drop', err), undefined);
    }
  }

  protected dispatchListening(address: A): void {
    try {
      this.emit('listening', address);
    } catch (err) {
      this.reportError(new ListenerError('listening', err), undefined);
    }
  }
}
