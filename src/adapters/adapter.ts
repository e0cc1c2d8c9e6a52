import type { Logger } from 'pino';
import type { SockframeError } from '../errors';

/**
 * What a server hands its adapter when it starts listening. The adapter calls `deliver` for each
 * broadcast published by another instance, and `error` for a fault the server should report.
 */
export interface AdapterHooks {
  /** Sends a broadcast from another instance to this server's open connections (never republished). */
  deliver(payload: Buffer): void;
  /** Reports a fault (`ERR_ADAPTER_UNAVAILABLE`, `ERR_ADAPTER_MESSAGE`) through the server's 'error' event. */
  error(err: SockframeError): void;
  /** The server's logger, as `child({ adapter: name })`: for connect, loss and recovery records. */
  readonly log: Logger;
}

/**
 * Carries a server's broadcasts to the other instances of the same service and brings theirs back.
 * Without one, a server broadcasts to its own connections only, at no extra cost.
 *
 * The server calls `attach` when it starts listening (and waits for it), `publish` for each
 * broadcast made while it listens (after sending to its own connections, so an adapter must never
 * hand a server its own broadcast back), and `close` once its connections are closed. One adapter
 * serves one server.
 */
export interface ServerAdapter {
  /** A short name for logs and errors, such as `redis` or `cluster`. */
  readonly name: string;
  /** Starts receiving the other instances' broadcasts; resolves once they can arrive. */
  attach(hooks: AdapterHooks): void | Promise<void>;
  /**
   * Publishes one broadcast to the other instances. A throw or a rejection is reported by the
   * server as `ERR_ADAPTER_UNAVAILABLE`; the adapter never queues a broadcast it cannot send.
   * `payload` may be reused by the caller once this returns: copy what is kept.
   */
  publish(payload: Buffer): void | Promise<unknown>;
  /**
   * Stops receiving and releases what `attach` took (never the connections the user passed in).
   * Called once `attach` has settled, or while it is still pending when the server closes
   * before it has: it should then end the attach at once.
   */
  close(): void | Promise<void>;
}

/** Validates the `adapter` option: undefined, or an object with the three methods. */
export function checkAdapter(value: unknown): ServerAdapter | undefined {
  if (value === undefined) return undefined;
  if (!isAdapter(value)) {
    throw new TypeError(
      'The "adapter" option must be a ServerAdapter (a name and attach, publish and close methods), such as a NodeClusterAdapter or a RedisAdapter.',
    );
  }
  return value;
}

function isAdapter(value: unknown): value is ServerAdapter {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate['name'] === 'string' &&
    typeof candidate['attach'] === 'function' &&
    typeof candidate['publish'] === 'function' &&
    typeof candidate['close'] === 'function'
  );
}
