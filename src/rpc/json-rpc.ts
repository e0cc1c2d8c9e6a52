import { Buffer } from 'node:buffer';
import { checkSize, checkTime, show } from '../options';

/**
 * JSON-RPC 2.0 over any framing: the `rpc` option of stream servers and clients.
 *
 * The API types are plain interfaces whose methods take one params value (or none) and return the
 * result (or a promise of it): `interface Api { add(p: { a: number; b: number }): number }`.
 */

/** The API of a peer whose methods are not typed: any name, unknown params and results. */
export interface UntypedApi {
  [method: string]: (params?: unknown) => unknown;
}

/** An API type as used: `unknown` (no type given) is the UntypedApi. */
export type ApiOf<T> = unknown extends T ? UntypedApi : T;

/** The method names of an API. */
export type MethodName<T> = {
  [K in keyof ApiOf<T>]: ApiOf<T>[K] extends (...args: never[]) => unknown ? K : never;
}[keyof ApiOf<T>] &
  string;

/** The method of an API by name. */
type Method<T, M> = M extends keyof ApiOf<T> ? ApiOf<T>[M] : never;

/** The params of a method: its one argument, or undefined when it takes none. */
export type ParamsOf<T, M extends MethodName<T>> =
  Method<T, M> extends (...args: infer A) => unknown ? (A extends [] ? undefined : A[0]) : never;

/** What a call of a method resolves to. */
export type ResultOf<T, M extends MethodName<T>> =
  Method<T, M> extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Options of one call. */
export interface CallOptions {
  /**
   * Milliseconds to wait for the response before rejecting with ERR_REQUEST_TIMEOUT; 0 waits
   * for ever.
   * @default the rpc option's `callTimeout` (30000)
   */
  timeout?: number;
  /** Aborting it rejects the call with ERR_REQUEST_ABORTED and sends `$/cancelRequest`. */
  signal?: AbortSignal;
}

/** The arguments of call() after the method name: params (optional when the method allows), options. */
export type CallArgs<T, M extends MethodName<T>> =
  Method<T, M> extends (...args: infer A) => unknown
    ? A extends []
      ? [params?: undefined, options?: CallOptions]
      : undefined extends A[0]
        ? [params?: A[0], options?: CallOptions]
        : [params: A[0], options?: CallOptions]
    : never;

/**
 * The arguments of notify() after the method name. A method the API declares takes its params; a
 * name it does not declare takes any structured params (notifications are events; the receiver
 * sees them on its untyped 'notification' event).
 */
export type NotifyArgs<T, M extends string> =
  M extends MethodName<T>
    ? Method<T, M> extends (...args: infer A) => unknown
      ? A extends []
        ? [params?: undefined]
        : undefined extends A[0]
          ? [params?: A[0]]
          : [params: A[0]]
      : never
    : [params?: unknown];

/** What a handler gets besides its params. */
export interface HandlerContext<C> {
  /** The connection the call came in on. */
  readonly conn: C;
  /** Aborted when the caller cancels (`$/cancelRequest`) or the connection is lost. */
  readonly signal: AbortSignal;
  /** The request's id; undefined for a notification. */
  readonly id: string | number | null | undefined;
}

/** A method's handler: sync or async, typed by the local API. */
export type RpcHandler<T, M extends MethodName<T>, C> = (
  params: ParamsOf<T, M>,
  context: HandlerContext<C>,
) => ResultOf<T, M> | PromiseLike<ResultOf<T, M>>;

/** Options of handle(). */
export interface HandleOptions {
  /**
   * Checks the params before the handler runs; false (or a string, the reason) answers the call
   * with -32602 "Invalid params" and the handler does not run. A handler may also throw
   * `RpcError.invalidParams(…)` itself.
   */
  validate?: (params: unknown) => boolean | string;
}

/**
 * Thrown by a handler to answer its call with this JSON-RPC error object (`code`, `message`,
 * `data`). Anything else a handler throws is answered with -32603 "Internal error" and reported
 * locally as ERR_RPC_HANDLER_THREW.
 */
export class RpcError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    if (!Number.isInteger(code))
      throw new TypeError(`An RpcError code must be an integer; got ${show(code)}.`);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
  }

  /** -32602: the params were not what the method takes. */
  static invalidParams(message = 'Invalid params', data?: unknown): RpcError {
    return new RpcError(RPC_CODES.INVALID_PARAMS, message, data);
  }
}

/** The error codes sockframe answers with. */
export const RPC_CODES = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The peer is closing; the call did not run. `data: { retryable: true }`. */
  CLOSING: -32000,
  /** Too many calls of this connection are waiting to run; the call did not run. `data: { retryable: true }`. */
  OVERLOADED: -32001,
  /** The connection's handshake call was refused, or another call came before it. */
  HANDSHAKE_REFUSED: -32002,
  /** The call was cancelled by `$/cancelRequest` (as in the Language Server Protocol). */
  REQUEST_CANCELLED: -32800,
});

/** Turns messages into payloads and back: JSON by default. */
export interface RpcSerializer {
  encode(message: unknown): Buffer | Uint8Array | string;
  /** Throws for bytes that are not a message (answered with -32700 "Parse error"). */
  decode(payload: Buffer): unknown;
}

/** UTF-8 JSON, as the JSON-RPC 2.0 specification has it. */
export const jsonSerializer: RpcSerializer = Object.freeze({
  encode: (message: unknown): Buffer => Buffer.from(JSON.stringify(message), 'utf8'),
  decode: (payload: Buffer): unknown => JSON.parse(payload.toString('utf8')) as unknown,
});

export interface HeartbeatOptions {
  /** Milliseconds between two `$/ping` requests. */
  interval: number;
  /**
   * Milliseconds a ping may wait for any response (a result or any error) before the connection
   * is closed with ERR_HEARTBEAT_TIMEOUT.
   * @default interval
   */
  timeout?: number;
}

/** The options of jsonRpc(). */
export interface JsonRpcOptions {
  /**
   * Payload encoding.
   * @default jsonSerializer (UTF-8 JSON)
   */
  serializer?: RpcSerializer;
  /**
   * Outgoing calls of one connection awaiting their responses; one more rejects with
   * ERR_TOO_MANY_PENDING without being sent.
   * @default 1024
   */
  maxPendingCalls?: number;
  /**
   * Incoming calls of one connection whose handlers run at once; more wait in order.
   * @default 32
   */
  maxConcurrentCalls?: number;
  /**
   * Incoming calls of one connection waiting for a free slot; one more is answered at once with
   * -32001 and `data: { retryable: true }`.
   * @default 1024
   */
  maxQueuedCalls?: number;
  /**
   * Elements in one incoming batch; a larger batch is answered with one -32600 error.
   * @default 1024
   */
  maxBatchSize?: number;
  /**
   * Default timeout of call(), in milliseconds; 0 waits for ever.
   * @default 30000
   */
  callTimeout?: number;
  /**
   * Liveness checks: a `$/ping` request every `interval` ms; no response within `timeout` closes
   * the connection with ERR_HEARTBEAT_TIMEOUT.
   * @default off
   */
  heartbeat?: HeartbeatOptions | false;
}

export const JSON_RPC_DEFAULTS = Object.freeze({
  maxPendingCalls: 1024,
  maxConcurrentCalls: 32,
  maxQueuedCalls: 1024,
  maxBatchSize: 1024,
  callTimeout: 30_000,
});

/** @internal */
export interface ResolvedRpcOptions {
  serializer: RpcSerializer;
  maxPendingCalls: number;
  maxConcurrentCalls: number;
  maxQueuedCalls: number;
  maxBatchSize: number;
  callTimeout: number;
  heartbeat: { interval: number; timeout: number } | undefined;
}

declare const apiTypes: unique symbol;

/** The `rpc` option: JSON-RPC 2.0, `Local` the methods this side serves, `Remote` the peer's. */
export interface JsonRpc<Local = unknown, Remote = unknown> {
  readonly protocol: 'json-rpc-2.0';
  /** @internal */
  readonly options: ResolvedRpcOptions;
  /** Carries the API types; never set. */
  readonly [apiTypes]?: { local: Local; remote: Remote };
}

/** JSON-RPC 2.0 for a stream server's or client's `rpc` option. */
export function jsonRpc<Local = unknown, Remote = unknown>(
  options: JsonRpcOptions = {},
): JsonRpc<Local, Remote> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('jsonRpc() takes an options object.');
  }
  const serializer = options.serializer ?? jsonSerializer;
  if (
    typeof serializer !== 'object' ||
    serializer === null ||
    typeof serializer.encode !== 'function' ||
    typeof serializer.decode !== 'function'
  ) {
    throw new TypeError('The "serializer" option must have encode(message) and decode(payload) functions.');
  }
  let heartbeat: ResolvedRpcOptions['heartbeat'];
  if (options.heartbeat !== undefined && options.heartbeat !== false) {
    const hb = options.heartbeat;
    if (typeof hb !== 'object' || hb === null) {
      throw new TypeError(`The "heartbeat" option must be an object or false; got ${show(hb)}.`);
    }
    const interval = checkSize('heartbeat.interval', hb.interval, 0);
    heartbeat = { interval, timeout: checkSize('heartbeat.timeout', hb.timeout, interval) };
  }
  return {
    protocol: 'json-rpc-2.0',
    options: Object.freeze({
      serializer,
      maxPendingCalls: checkSize(
        'maxPendingCalls',
        options.maxPendingCalls,
        JSON_RPC_DEFAULTS.maxPendingCalls,
      ),
      maxConcurrentCalls: checkSize(
        'maxConcurrentCalls',
        options.maxConcurrentCalls,
        JSON_RPC_DEFAULTS.maxConcurrentCalls,
      ),
      maxQueuedCalls: checkSize('maxQueuedCalls', options.maxQueuedCalls, JSON_RPC_DEFAULTS.maxQueuedCalls),
      maxBatchSize: checkSize('maxBatchSize', options.maxBatchSize, JSON_RPC_DEFAULTS.maxBatchSize),
      callTimeout: checkTime('callTimeout', options.callTimeout, JSON_RPC_DEFAULTS.callTimeout),
      heartbeat,
    }),
  };
}

/** @internal Validates an `rpc` option given to a server or client. */
export function checkRpc(rpc: unknown): JsonRpc<unknown, unknown> | undefined {
  if (rpc === undefined) return undefined;
  if (typeof rpc !== 'object' || rpc === null || (rpc as JsonRpc).protocol !== 'json-rpc-2.0') {
    throw new TypeError('The "rpc" option must be made by jsonRpc().');
  }
  return rpc as JsonRpc<unknown, unknown>;
}
