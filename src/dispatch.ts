import type { SockframeError, SockframeErrorCode } from './errors';
import { FLOOD_LOG_INTERVAL_MS, LogThrottle } from './logger';

/**
 * The one way sockframe calls user code for an event. A listener that throws, or returns a
 * promise that rejects (an `async` listener), never reaches the process as an uncaught exception
 * or an unhandled rejection: it is handed to the owner's fault sink, which reports it as
 * ERR_LISTENER_THREW and closes what it concerns.
 */

/** Any listener or hook; what it returns is only looked at for a promise. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- listeners of every event signature
export type AnyListener = (...args: any[]) => unknown;

/** @internal Where a guarded call reports what a listener threw or rejected with. */
export interface FaultSink<S = unknown> {
  /** `subject` is what the event was about (a server's peer), when the caller gave one. */
  listenerFault(thrown: unknown, event: string, subject: S | undefined): void;
}

/** The emitter methods a guarded emit needs (every sockframe emitter has them). */
interface ListenerSource {
  listenerCount(event: string): number;
  rawListeners(event: string): AnyListener[];
  /**
   * node:events' own table, read directly on the message path as emit() does: one listener, or
   * an array of them, per event. Where it is absent the public methods above are used.
   */
  readonly _events?: Readonly<Record<string, AnyListener | readonly AnyListener[] | undefined>>;
}

/** Whether a listener's return value is a promise (or any thenable). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** @internal Routes the rejection of a listener's promise to `sink`. */
export function watchRejection<S>(
  pending: PromiseLike<unknown>,
  event: string,
  sink: FaultSink<S>,
  subject: S | undefined,
): void {
  Promise.resolve(pending).then(undefined, (err: unknown) => sink.listenerFault(err, event, subject));
}

/**
 * @internal Calls one listener or hook with `self` as `this`. Returns false when it threw (the fault is
 * reported); a promise it returns is watched for its rejection.
 */
export function callGuarded<S>(
  self: unknown,
  listener: AnyListener,
  args: readonly unknown[],
  event: string,
  sink: FaultSink<S>,
  subject?: S,
): boolean {
  let result: unknown;
  try {
    result = listener.apply(self, args as unknown[]);
  } catch (err) {
    sink.listenerFault(err, event, subject);
    return false;
  }
  if (isThenable(result)) watchRejection(result, event, sink, subject);
  return true;
}

/**
 * @internal emit() made safe: every listener of `event` is called in order, as emit() would (`once`
 * listeners included). A listener that throws stops the rest, as with emit(), and is reported to
 * `sink` instead of propagating. Returns false when a listener threw.
 */
export function emitGuarded<S>(
  emitter: ListenerSource,
  event: string,
  args: readonly unknown[],
  sink: FaultSink<S>,
  subject?: S,
): boolean {
  const table = emitter._events;
  if (table !== undefined) {
    const entry = table[event];
    if (entry === undefined) return true;
    // One listener, the common case: called without copying a listener list.
    if (typeof entry === 'function') return callGuarded(emitter, entry, args, event, sink, subject);
    return callEach(emitter, entry.slice(), args, event, sink, subject);
  }
  if (emitter.listenerCount(event) === 0) return true;
  return callEach(emitter, emitter.rawListeners(event), args, event, sink, subject);
}

/** Calls `listeners` (a copy: one may add or remove others) in order until one throws. */
function callEach<S>(
  emitter: ListenerSource,
  listeners: readonly AnyListener[],
  args: readonly unknown[],
  event: string,
  sink: FaultSink<S>,
  subject: S | undefined,
): boolean {
  for (let i = 0; i < listeners.length; i++) {
    if (!callGuarded(emitter, listeners[i] as AnyListener, args, event, sink, subject)) return false;
  }
  return true;
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
  'ERR_HEARTBEAT_TIMEOUT',
  'ERR_RPC_PROTOCOL',
  'ERR_HANDSHAKE_REFUSED',
  'ERR_HANDSHAKE_TIMEOUT',
]);

/**
 * Whether `err` is the peer's doing rather than a fault of the program or the host; a socket
 * failure counts when it is the socket of one peer.
 */
export function isPeerFault(err: SockframeError, onPeerSocket: boolean): boolean {
  return PEER_FAULT_CODES.has(err.code) || (err.code === 'ERR_SOCKET' && onPeerSocket);
}

/** The warning type of everything sockframe passes to process.emitWarning(). */
export const WARNING_TYPE = 'SockframeWarning';

/**
 * Makes the faults nobody observes (no 'error' listener, no logger) visible as process warnings.
 * A program fault (a listener that threw, a failing server socket, an adapter that cannot reach
 * its broker) is warned about at once, then at most once per second with a count; faults caused
 * by peers are expected in production and only the first one gets a warning, which says how to
 * observe them.
 */
export class UnobservedFaults {
  private readonly owner: string;
  private peerHintGiven = false;
  private readonly throttle: LogThrottle<SockframeError>;

  constructor(owner: string) {
    this.owner = owner;
    this.throttle = new LogThrottle(FLOOD_LOG_INTERVAL_MS, (count, err, atOnce) => {
      const text = atOnce
        ? `${this.owner}: ${err.message}`
        : `${this.owner}: ${count} unobserved faults in the last second; the latest: ${err.message}`;
      process.emitWarning(text, {
        type: WARNING_TYPE,
        code: err.code,
        detail: `Listen to the 'error' event or pass a logger to observe these faults.`,
      });
    });
  }

  note(err: SockframeError, peerFault: boolean): void {
    if (!peerFault) {
      this.throttle.note(err);
      return;
    }
    if (this.peerHintGiven) return;
    this.peerHintGiven = true;
    process.emitWarning(`${this.owner}: ${err.message}`, {
      type: WARNING_TYPE,
      code: err.code,
      detail:
        `Faults caused by peers (${err.code} and the like) are not warned about again; ` +
        `listen to the 'error' event or pass a logger to observe them.`,
    });
  }
}
