import { TypedEmitter } from 'tiny-typed-emitter';
import type { Logger } from 'pino';
import { ConnectAbortedError, ListenerError, type SockframeError } from '../errors';
import { callGuarded, emitGuarded, isPeerFault, UnobservedFaults, type FaultSink } from '../dispatch';
import { show } from '../options';
import type { CloseReason, Payload } from '../connection';
import type { CloseOptions } from '../server/socket-server';

/** Reported before each reconnect attempt. */
export interface ReconnectingInfo {
  /** 1 for the first retry after a failure or a drop. */
  readonly attempt: number;
  /** How long the client waits before this attempt. */
  readonly delayMs: number;
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
  /** A JSON-RPC notification from the server (stream clients with the `rpc` option). */
  notification: (method: string, params: unknown) => void;
}

/**
 * What every client shares: typed events, listener isolation and the subclass hooks.
 * Subclass hooks run before the matching event's listeners.
 */
export abstract class SocketClient extends TypedEmitter<ClientEvents> implements FaultSink {
  protected readonly log: Logger;
  private finished = false;
  private readonly finishWaiters = new Set<() => void>();
  /** Faults nobody observes become process warnings. */
  private readonly unobserved: UnobservedFaults;

  protected constructor(log: Logger) {
    super();
    this.log = log;
    this.unobserved = new UnobservedFaults(new.target.name);
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

  /**
   * Reads messages as an async iterator, for those who prefer `for await`. It ends when the
   * client closes for good (close(), or a drop with reconnect off).
   */
  messages(): AsyncIterableIterator<Buffer> {
    const queue: Buffer[] = [];
    let wake: (() => void) | undefined;
    let done = this.finished;
    const onMessage = (message: Buffer): void => {
      queue.push(message);
      wake?.();
    };
    const onFinish = (): void => {
      done = true;
      wake?.();
    };
    this.on('message', onMessage);
    this.finishWaiters.add(onFinish);
    const detach = (): void => {
      this.off('message', onMessage);
      this.finishWaiters.delete(onFinish);
    };
    const iterator: AsyncIterableIterator<Buffer> = {
      next: async (): Promise<IteratorResult<Buffer>> => {
        for (;;) {
          const message = queue.shift();
          if (message !== undefined) return { value: message, done: false };
          if (done) {
            detach();
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      return: (): Promise<IteratorResult<Buffer>> => {
        done = true;
        queue.length = 0;
        detach();
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

  /** Marks that nothing more will be delivered: ends every messages() iterator. */
  protected finish(): void {
    this.finished = true;
    for (const wake of [...this.finishWaiters]) wake();
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

  protected dispatchConnect(): void {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onConnect, [], 'connect', this)) return;
    emitGuarded(this, 'connect', [], this);
  }

  protected dispatchMessage(message: Buffer): void {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onMessage, [message], 'message', this)) return;
    emitGuarded(this, 'message', [message], this);
  }

  protected dispatchClose(reason: CloseReason): void {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on this
    if (!callGuarded(this, this.onClose, [reason], 'close', this)) return;
    emitGuarded(this, 'close', [reason], this);
  }

  protected dispatchSimple(event: 'drain' | 'reconnecting', info?: ReconnectingInfo): void {
    emitGuarded(this, event, event === 'drain' ? [] : [info], this);
  }

  /**
   * @internal A listener or hook threw or rejected: ERR_LISTENER_THREW. One of 'connect' or
   * 'message' closes the connection; one of the other events is reported only.
   */
  listenerFault(thrown: unknown, event: string): void {
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
