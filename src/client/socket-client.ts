import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import { ConnectAbortedError, ListenerError, type SockframeError } from '../errors';
import { callGuarded, emitGuarded, isPeerFault, UnobservedFaults, type FaultSink } from '../dispatch';
import { CHANNELS } from '../diagnostics';
import { show } from '../options';
import type { CloseReason } from '../close-reason';
import type { CloseOptions } from '../options';
import type { Payload } from '../payload';
import type { TrafficStats } from '../traffic-stats';

/** Reported before each reconnect attempt. */
export interface ReconnectingInfo {
  /** 1 for the first retry after a failure or a drop. */
  readonly attempt: number;
  /** How long the client waits before this attempt. */
  readonly delayMs: number;
}

/**
 * What `client.stats` of every client holds (stream clients and UdpClient add their own fields).
 * Counters run from the client's creation, over every connection it has made.
 */
export interface ClientStats extends TrafficStats {
  /** Connected now. */
  readonly connected: boolean;
  /** Connections made (a UdpClient: its socket connected), the first one and every reconnect. */
  readonly connects: number;
  /** Reconnect attempts scheduled (each 'reconnecting' event). */
  readonly reconnectAttempts: number;
}

/** The events of every client. */
export interface ClientEvents {
  /** Connected (again, after a reconnect). */
  connect: () => void;
  /** One whole message from the server. */
  message: (message: Buffer) => void;
  /** The connection dropped or was closed; emitted on every drop. */
  close: (reason: CloseReason) => void;
  /** A reconnect attempt is scheduled. */
  reconnecting: (info: ReconnectingInfo) => void;
  /** Unsent bytes fell back under the high-water mark after send() returned false. */
  drain: () => void;
  /** A fault. The connection, if any, is then closed. */
  error: (err: SockframeError) => void;
  /** With allowHalfOpen (stream clients): the server ended its side; ours stays open. */
  end: () => void;
  /** A JSON-RPC notification from the server (stream clients with the `rpc` option). */
  notification: (method: string, params: unknown) => void;
}

/** A messages() iterator whose consumer has fallen this far behind stops reading the socket. */
const ITERATOR_HIGH_WATER_MESSAGES = 1024;
const ITERATOR_HIGH_WATER_BYTES = 1024 * 1024;

/**
 * What every client shares: typed events, listener isolation and the subclass hooks.
 * Subclass hooks run before the matching event's listeners.
 */
export abstract class SocketClient extends TypedEmitter<ClientEvents> {
  /** @internal Where every guarded call of this client's listeners and hooks reports a fault. */
  protected readonly listenerFaults: FaultSink = {
    listenerFault: (thrown, event) => this.listenerThrew(thrown, event),
  };
  protected readonly log: Logger;
  private finished = false;
  /** The ends of the messages() iterators that are open, made for the first one. */
  private finishWaiters: Set<() => void> | undefined = undefined;
  /** Faults nobody observes become process warnings. */
  private unobservedFaults: UnobservedFaults | undefined = undefined;
  /**
   * Set by close(), once and for good. Every step of connecting (an attempt, a backoff wait, the
   * decision to reconnect after a drop) watches it or checks it, so close() ends them all at once,
   * wherever it is called from: a 'close' or 'reconnecting' listener included.
   */
  private closedFlag = false;
  /** What the steps under way are told when close() is called; most clients have none. */
  private closeWatchers: Set<(reason: SockframeError) => void> | undefined = undefined;
  /** The same as an AbortSignal, made when first asked for (an AbortController is not cheap). */
  private lifetime: AbortController | undefined = undefined;
  /** The ConnectAbortedError steps ended by close() reject with, made when first needed. */
  private closedError: SockframeError | undefined = undefined;
  private connectsTotal = 0;
  private reconnectAttemptsTotal = 0;
  /** Faults by code, made on the first one. */
  private errorCounts: Map<string, number> | undefined = undefined;

  protected constructor(log: Logger) {
    super();
    this.log = log;
  }

  /** Made on the first fault nobody observes: most clients never have one. */
  private get unobserved(): UnobservedFaults {
    return (this.unobservedFaults ??= new UnobservedFaults(this.constructor.name));
  }

  /** Connects; resolves once connected. */
  abstract connect(options?: { signal?: AbortSignal }): Promise<void>;
  /** Sends one message; returns false when the caller should wait for 'drain'. */
  abstract send(payload: Payload): boolean;
  /** Flushes, disconnects for good and resolves once closed. */
  abstract close(options?: CloseOptions): Promise<void>;
  /** True while connected. */
  abstract get connected(): boolean;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** True once close() has been called: nothing connects again. */
  protected get closedForGood(): boolean {
    return this.closedFlag;
  }

  /** Aborted when close() is called; its reason is the ConnectAbortedError pending connects get. */
  protected get closeSignal(): AbortSignal {
    let lifetime = this.lifetime;
    if (lifetime === undefined) {
      lifetime = this.lifetime = new AbortController();
      if (this.closedFlag) lifetime.abort(this.closedReason);
    }
    return lifetime.signal;
  }

  /** The error a step ended by close() rejects with (the same one for every step). */
  protected get closedReason(): SockframeError {
    return (this.closedError ??= new ConnectAbortedError('The client was closed'));
  }

  /**
   * Calls `watcher` with closedReason when close() is called (not when already closed: check
   * closedForGood first). Returns what stops watching.
   */
  protected watchClose(watcher: (reason: SockframeError) => void): () => void {
    const watchers = (this.closeWatchers ??= new Set());
    watchers.add(watcher);
    return () => watchers.delete(watcher);
  }

  /**
   * The one transition to "closed for good", made by close(): ends every messages() iterator and
   * cancels whatever attempt or backoff wait is under way. Returns false when already made.
   */
  protected closeForGood(): boolean {
    if (this.closedFlag) return false;
    this.closedFlag = true;
    const watchers = this.closeWatchers;
    if (watchers !== undefined && watchers.size > 0) {
      for (const watcher of [...watchers]) watcher(this.closedReason);
    }
    this.lifetime?.abort(this.closedReason);
    this.finish();
    return true;
  }

  /**
   * Reads messages as an async iterator, for those who prefer `for await`. It ends when the
   * client closes for good (close(), or a drop with reconnect off); a next() waiting then
   * resolves `{ done: true }`. Several next() calls may wait at once: messages go to them in order.
   */
  messages(): AsyncIterableIterator<Buffer> {
    const queue: Buffer[] = [];
    let queuedBytes = 0;
    let holding = false;
    const waiters: ((result: IteratorResult<Buffer>) => void)[] = [];
    let done = this.finished;
    const end = (): void => {
      done = true;
      detach();
      if (holding) {
        holding = false;
        this.holdReading(false);
      }
      for (const resolve of waiters.splice(0)) resolve({ value: undefined, done: true });
    };
    const onMessage = (message: Buffer): void => {
      const waiter = waiters.shift();
      if (waiter !== undefined) {
        waiter({ value: message, done: false });
        return;
      }
      queue.push(message);
      queuedBytes += message.length;
      // Past the high-water mark the socket stops being read (the peer is pushed back on) until
      // the consumer has taken the queue down to half of it.
      if (
        !holding &&
        (queue.length >= ITERATOR_HIGH_WATER_MESSAGES || queuedBytes >= ITERATOR_HIGH_WATER_BYTES)
      ) {
        holding = true;
        this.holdReading(true);
      }
    };
    const take = (): Buffer | undefined => {
      const message = queue.shift();
      if (message === undefined) return undefined;
      queuedBytes -= message.length;
      if (
        holding &&
        queue.length <= ITERATOR_HIGH_WATER_MESSAGES / 2 &&
        queuedBytes <= ITERATOR_HIGH_WATER_BYTES / 2
      ) {
        holding = false;
        this.holdReading(false);
      }
      return message;
    };
    const detach = (): void => {
      this.off('message', onMessage);
      this.finishWaiters?.delete(end);
    };
    if (!done) {
      this.on('message', onMessage);
      (this.finishWaiters ??= new Set()).add(end);
    }
    const iterator: AsyncIterableIterator<Buffer> = {
      next: (): Promise<IteratorResult<Buffer>> => {
        const message = take();
        if (message !== undefined) return Promise.resolve({ value: message, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<Buffer>> => {
        queue.length = 0;
        end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** True once the client will deliver nothing more until connect() is called again. */
  get finishedReading(): boolean {
    return this.finished;
  }

  /**
   * Stops (true) or restarts (false) reading on behalf of a messages() iterator whose queue is
   * full. Stream clients pause their connection; a datagram client cannot push back.
   */
  protected holdReading(_hold: boolean): void {}

  /** Marks that nothing more will be delivered: ends every messages() iterator. */
  protected finish(): void {
    this.finished = true;
    const waiters = this.finishWaiters;
    if (waiters !== undefined && waiters.size > 0) for (const end of [...waiters]) end();
  }

  /** A new connect() begins: iterators created from now on wait for messages again. */
  protected unfinish(): void {
    this.finished = false;
  }

  // Hooks for subclasses: override instead of (or beside) subscribing to the events.
  /** Called on each connect, before the 'connect' listeners. */
  protected onConnect(): void {}
  /** Called for each whole message, before the 'message' listeners. */
  protected onMessage(_message: Buffer): void {}
  /** Called on each drop, before the 'close' listeners. */
  protected onClose(_reason: CloseReason): void {}
  /** Called for each fault, before the 'error' listeners. */
  protected onError(_err: SockframeError): void {}

  /** Closes the current connection for a fault (a throwing listener). */
  protected abstract failConnection(err: SockframeError): void;

  /** The counters every client keeps, for its `stats`. */
  protected lifecycleStats(): Pick<ClientStats, 'connects' | 'reconnectAttempts' | 'errors'> {
    return {
      connects: this.connectsTotal,
      reconnectAttempts: this.reconnectAttemptsTotal,
      errors: this.errorCounts === undefined ? {} : Object.fromEntries(this.errorCounts),
    };
  }

  protected dispatchConnect(): void {
    this.connectsTotal++;
    if (CHANNELS.clientConnect.hasSubscribers) CHANNELS.clientConnect.publish({ client: this });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onConnect, [], 'connect', this.listenerFaults)) return;
    emitGuarded(this, 'connect', [], this.listenerFaults);
  }

  protected dispatchMessage(message: Buffer): void {
    const args = [message];
    // The hook is skipped when no subclass overrides it (the base one does nothing).
    if (
      this.onMessage !== SocketClient.prototype.onMessage &&
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
      !callGuarded(this, this.onMessage, args, 'message', this.listenerFaults)
    ) {
      return;
    }
    emitGuarded(this, 'message', args, this.listenerFaults);
  }

  protected dispatchClose(reason: CloseReason): void {
    if (CHANNELS.clientClose.hasSubscribers) CHANNELS.clientClose.publish({ client: this, reason });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onClose, [reason], 'close', this.listenerFaults)) return;
    emitGuarded(this, 'close', [reason], this.listenerFaults);
  }

  protected dispatchSimple(event: 'drain' | 'reconnecting', info?: ReconnectingInfo): void {
    if (event === 'reconnecting') {
      this.reconnectAttemptsTotal++;
      if (CHANNELS.clientReconnecting.hasSubscribers) {
        CHANNELS.clientReconnecting.publish({ client: this, ...info });
      }
    }
    emitGuarded(this, event, event === 'drain' ? [] : [info], this.listenerFaults);
  }

  /**
   * A listener or hook threw or rejected: ERR_LISTENER_THREW. One of 'connect' or 'message'
   * closes the connection; one of the other events is reported only.
   */
  private listenerThrew(thrown: unknown, event: string): void {
    const err = new ListenerError(event, thrown);
    if (event === 'connect' || event === 'message') this.failConnection(err);
    else this.reportError(err);
  }

  /**
   * Reports a fault without ever throwing: a missing or throwing 'error' listener is logged.
   * When nobody observes the fault (no listener, no hook, no logger), it becomes a process
   * warning (rate-limited; only the first of the peer's faults).
   */
  protected reportError(err: SockframeError): void {
    this.log.warn({ err, code: err.code }, 'error');
    const counts = (this.errorCounts ??= new Map());
    counts.set(err.code, (counts.get(err.code) ?? 0) + 1);
    if (CHANNELS.clientError.hasSubscribers) CHANNELS.clientError.publish({ client: this, error: err });
    const heard = this.listenerCount('error') > 0 || this.onError !== SocketClient.prototype.onError;
    if (!heard && !this.log.isLevelEnabled('warn')) this.unobserved.note(err, isPeerFault(err, true));
    const errorFault: FaultSink = { listenerFault: (thrown) => this.errorListenerFault(thrown) };
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onError, [err], 'error', errorFault)) return;
    emitGuarded(this, 'error', [err], errorFault);
  }

  /** An 'error' listener or hook threw: logged, or a warning when there is no logger. */
  private errorListenerFault(thrown: unknown): void {
    this.log.error({ err: thrown }, "an 'error' listener threw");
    if (!this.log.isLevelEnabled('error')) this.unobserved.note(new ListenerError('error', thrown), false);
  }
}

/** connect()'s options checked: its signal, or a TypeError for misused arguments. */
export function connectSignal(options: unknown): AbortSignal | undefined | TypeError {
  if (typeof options !== 'object' || options === null) {
    return new TypeError(`connect() takes an options object; got ${show(options)}.`);
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return new TypeError(`The "signal" option must be an AbortSignal; got ${show(signal)}.`);
  }
  return signal;
}

/**
 * A connect() that found an attempt under way waits for it; its own signal ends only this wait
 * (ERR_CONNECT_ABORTED), not the attempt.
 */
export function joinAttempt(pending: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return pending;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(new ConnectAbortedError('Aborted', signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
