import { channel, tracingChannel, type TracingChannel } from 'node:diagnostics_channel';
import type { Connection } from './connection';
import { isThenable } from './dispatch';

/**
 * The diagnostics_channel channels sockframe publishes on (public API: names and message shapes
 * are listed in the README). Each is published only when it has subscribers, and only for
 * lifecycle events (no per-message channel), so nothing is paid when nobody listens.
 */
export const CHANNELS = Object.freeze({
  serverListening: channel('sockframe:server:listening'),
  serverClosed: channel('sockframe:server:closed'),
  serverDrop: channel('sockframe:server:drop'),
  serverError: channel('sockframe:server:error'),
  connectionOpen: channel('sockframe:connection:open'),
  connectionClose: channel('sockframe:connection:close'),
  clientConnect: channel('sockframe:client:connect'),
  clientClose: channel('sockframe:client:close'),
  clientReconnecting: channel('sockframe:client:reconnecting'),
  clientError: channel('sockframe:client:error'),
  adapterUp: channel('sockframe:adapter:up'),
  adapterDown: channel('sockframe:adapter:down'),
});

/**
 * What the JSON-RPC tracing channels carry: one object per call, the same one on each of its
 * start, end, asyncStart, asyncEnd and error events. `result` or `error` is set once known.
 */
export interface RpcTraceContext {
  /** The method called. */
  readonly method: string;
  /** The params as given (outgoing) or as decoded (incoming). */
  readonly params: unknown;
  /** The request id; undefined for an incoming notification. */
  readonly id: string | number | null | undefined;
  /** The connection the call goes out on or came in on (`id`, `remoteAddress`, `remotePort`, `data`). */
  readonly conn: Connection;
  /** What the call resolved to (outgoing) or the handler returned (incoming). */
  result?: unknown;
  /** Why the call failed, or what the handler threw. */
  error?: unknown;
}

/** `tracing:sockframe:rpc:call:*`: outgoing calls, from call() to their response (or failure). */
export const RPC_CALL: TracingChannel<unknown, RpcTraceContext> = tracingChannel('sockframe:rpc:call');
/** `tracing:sockframe:rpc:handle:*`: incoming requests and notifications that run a handler. */
export const RPC_HANDLE: TracingChannel<unknown, RpcTraceContext> = tracingChannel('sockframe:rpc:handle');

/**
 * Whether anyone listens on a tracing channel (a subscriber or a bound store on any of its
 * five). Checked by hand: `TracingChannel.hasSubscribers` is missing before Node 20.13.
 */
export function traced(tracing: TracingChannel<unknown, RpcTraceContext>): boolean {
  return (
    tracing.start.hasSubscribers ||
    tracing.end.hasSubscribers ||
    tracing.asyncStart.hasSubscribers ||
    tracing.asyncEnd.hasSubscribers ||
    tracing.error.hasSubscribers
  );
}

/**
 * Runs `fn` as Node's TracingChannel helpers do, for a function that may or may not return a
 * promise: start (its stores entered for `fn`), then error if it throws, end when it returns;
 * when it returns a promise, error (on rejection), asyncStart and asyncEnd once it settles.
 * A synchronous result publishes no asyncStart/asyncEnd.
 */
export function traceMaybeAsync<T>(
  tracing: TracingChannel<unknown, RpcTraceContext>,
  context: RpcTraceContext,
  fn: () => T,
): T | Promise<unknown> {
  return tracing.start.runStores(context, () => {
    try {
      const result = fn();
      if (!isThenable(result)) {
        context.result = result;
        return result;
      }
      return Promise.resolve(result).then(
        (value) => {
          context.result = value;
          tracing.asyncStart.publish(context);
          tracing.asyncEnd.publish(context);
          return value;
        },
        (err: unknown) => {
          context.error = err;
          tracing.error.publish(context);
          tracing.asyncStart.publish(context);
          tracing.asyncEnd.publish(context);
          throw err;
        },
      );
    } catch (err) {
      context.error = err;
      tracing.error.publish(context);
      throw err;
    } finally {
      tracing.end.publish(context);
    }
  });
}

/** What `sockframe:adapter:up` and `sockframe:adapter:down` carry. */
export interface AdapterChannelMessage {
  /** The adapter (one per server): a NodeClusterAdapter or a RedisAdapter. */
  readonly adapter: object;
  /** The adapter's name: 'cluster' or 'redis'. */
  readonly name: string;
  /** The adapter's channel (cluster IPC channel, Redis pub/sub channel). */
  readonly channel: string;
  /** Down only: 'lost' (the primary, or a Redis connection, went away) or 'closed' (the server closed). */
  readonly reason?: 'lost' | 'closed';
  /** Redis only: the connection whose coming up made both ready, or that was lost. */
  readonly role?: 'publisher' | 'subscriber';
}

/** Publishes an adapter's up or down, when someone listens. */
export function publishAdapter(up: boolean, message: AdapterChannelMessage): void {
  const target = up ? CHANNELS.adapterUp : CHANNELS.adapterDown;
  if (target.hasSubscribers) target.publish(message);
}
