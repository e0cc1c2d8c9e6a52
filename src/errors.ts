/**
 * Every failure sockframe reports is a `SockframeError` with a stable string `code`.
 * Codes are never reused once retired; the README lists them all.
 */

export type SockframeErrorCode =
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_INVALID_FRAME_LENGTH'
  | 'ERR_FRAMING_HOOK_FAILED'
  | 'ERR_MESSAGE_TIMEOUT'
  | 'ERR_IDLE_TIMEOUT'
  | 'ERR_SLOW_CONSUMER'
  | 'ERR_DATAGRAM_TOO_LARGE'
  | 'ERR_NOT_CONNECTED'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_ADDRESS_IN_USE'
  | 'ERR_LISTENER_THREW'
  | 'ERR_SOCKET'
  | 'ERR_SERVER_CLOSED'
  | 'ERR_CONNECT_ABORTED'
  | 'ERR_INCOMPLETE_MESSAGE'
  | 'ERR_QUEUE_FULL'
  | 'ERR_ADAPTER_UNAVAILABLE'
  | 'ERR_ADAPTER_MESSAGE'
  | 'ERR_ALREADY_LISTENING'
  | 'ERR_NOT_LISTENING'
  | 'ERR_TLS_VERIFICATION'
  | 'ERR_MEMORY_BUDGET'
  | 'ERR_REMOTE'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_REQUEST_ABORTED'
  | 'ERR_CONNECTION_LOST'
  | 'ERR_TOO_MANY_PENDING'
  | 'ERR_HEARTBEAT_TIMEOUT'
  | 'ERR_RPC_PROTOCOL'
  | 'ERR_RPC_HANDLER_THREW'
  | 'ERR_HANDSHAKE_REFUSED'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_SOCKET_PATH_TOO_LONG';

export interface SockframeErrorOptions {
  cause?: unknown;
}

/** Base class of every error sockframe emits or throws. */
export class SockframeError extends Error {
  readonly code: SockframeErrorCode;

  constructor(code: SockframeErrorCode, message: string, options?: SockframeErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** A frame's declared length is larger than `maxMessageSize`. Raised before the body is buffered. */
export class FrameTooLargeError extends SockframeError {
  declare readonly code: 'ERR_FRAME_TOO_LARGE';
  /** The declared length in bytes (may be `Infinity` when it does not fit a safe integer). */
  readonly length: number;
  readonly limit: number;

  constructor(length: number, limit: number) {
    super(
      'ERR_FRAME_TOO_LARGE',
      `Frame of ${length === Infinity ? 'more than 2^53' : length} bytes exceeds maxMessageSize of ${limit} bytes`,
    );
    this.length = length;
    this.limit = limit;
  }
}

/** A framing hook gave a length that cannot be a frame: negative, NaN, fractional, or shorter than its header. */
export class InvalidFrameLengthError extends SockframeError {
  declare readonly code: 'ERR_INVALID_FRAME_LENGTH';
  readonly length: unknown;

  constructor(message: string, length: unknown) {
    super('ERR_INVALID_FRAME_LENGTH', message);
    this.length = length;
  }
}

/** A user framing hook threw; the original error is the `cause`. */
export class FramingHookError extends SockframeError {
  declare readonly code: 'ERR_FRAMING_HOOK_FAILED';

  constructor(cause: unknown) {
    super('ERR_FRAMING_HOOK_FAILED', `Framing hook threw: ${describe(cause)}`, { cause });
  }
}

/** A message started arriving but did not complete within `messageTimeout`. */
export class MessageTimeoutError extends SockframeError {
  declare readonly code: 'ERR_MESSAGE_TIMEOUT';
  readonly timeout: number;

  constructor(timeout: number) {
    super('ERR_MESSAGE_TIMEOUT', `Message not completed within messageTimeout of ${timeout} ms`);
    this.timeout = timeout;
  }
}

/** No byte was read or written for `idleTimeout`. */
export class IdleTimeoutError extends SockframeError {
  declare readonly code: 'ERR_IDLE_TIMEOUT';
  readonly timeout: number;

  constructor(timeout: number) {
    super('ERR_IDLE_TIMEOUT', `No traffic for idleTimeout of ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * Unsent bytes passed `maxPendingBytes`: the sender kept sending after send() returned false,
 * faster than the peer's side of the connection took the bytes (or one send was bigger than the
 * limit itself).
 */
export class SlowConsumerError extends SockframeError {
  declare readonly code: 'ERR_SLOW_CONSUMER';
  readonly pendingBytes: number;
  readonly limit: number;

  constructor(pendingBytes: number, limit: number) {
    super(
      'ERR_SLOW_CONSUMER',
      `${pendingBytes} bytes queued and not yet written exceed maxPendingBytes (${limit}): sends went on past send()'s false faster than the connection wrote them, or one send was larger than the limit`,
    );
    this.pendingBytes = pendingBytes;
    this.limit = limit;
  }
}

/** A datagram larger than UDP allows (65,507 bytes over udp4, 65,527 over udp6). */
export class DatagramTooLargeError extends SockframeError {
  declare readonly code: 'ERR_DATAGRAM_TOO_LARGE';
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super('ERR_DATAGRAM_TOO_LARGE', `Datagram of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.size = size;
    this.limit = limit;
  }
}

/**
 * `send()` was called on a connection or client that is not open; or a client was closed with
 * messages it had queued while disconnected, which then carries how many and their bytes.
 */
export class NotConnectedError extends SockframeError {
  declare readonly code: 'ERR_NOT_CONNECTED';
  /** Messages send() had accepted that were never sent (a client closed while disconnected). */
  readonly unsentMessages?: number;
  readonly unsentBytes?: number;

  constructor(message = 'Not connected', unsent?: { messages: number; bytes: number }) {
    super('ERR_NOT_CONNECTED', message);
    if (unsent !== undefined) {
      this.unsentMessages = unsent.messages;
      this.unsentBytes = unsent.bytes;
    }
  }
}

/** A client did not connect within `connectTimeout`. */
export class ConnectTimeoutError extends SockframeError {
  declare readonly code: 'ERR_CONNECT_TIMEOUT';
  readonly timeout: number;

  constructor(timeout: number) {
    super('ERR_CONNECT_TIMEOUT', `Not connected within connectTimeout of ${timeout} ms`);
    this.timeout = timeout;
  }
}

/** The address (port or socket path) is already served by someone else. */
export class AddressInUseError extends SockframeError {
  declare readonly code: 'ERR_ADDRESS_IN_USE';
  readonly address: string;

  constructor(address: string, cause?: unknown) {
    super('ERR_ADDRESS_IN_USE', `Address already in use: ${address}`, { cause });
    this.address = address;
  }
}

/** A user event listener threw; the original error is the `cause`. */
export class ListenerError extends SockframeError {
  declare readonly code: 'ERR_LISTENER_THREW';
  readonly event: string;

  constructor(event: string, cause: unknown) {
    super('ERR_LISTENER_THREW', `A '${event}' listener threw: ${describe(cause)}`, { cause });
    this.event = event;
  }
}

/** The underlying socket failed (reset, refused, broken pipe…); the system error is the `cause`. */
export class SocketError extends SockframeError {
  declare readonly code: 'ERR_SOCKET';
  /** The system error code, such as `ECONNRESET`, when there is one. */
  readonly syscallCode: string | undefined;

  constructor(cause: unknown) {
    const syscallCode =
      typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'string'
        ? (cause as { code: string }).code
        : undefined;
    super('ERR_SOCKET', `Socket error: ${describe(cause)}`, { cause });
    this.syscallCode = syscallCode;
  }
}

/** The server or client was closed while an operation was waiting (listen, connect). */
export class ServerClosedError extends SockframeError {
  declare readonly code: 'ERR_SERVER_CLOSED';

  constructor(message = 'Closed') {
    super('ERR_SERVER_CLOSED', message);
  }
}

/** `listen()` on a server that is already listening (or binding). */
export class AlreadyListeningError extends SockframeError {
  declare readonly code: 'ERR_ALREADY_LISTENING';

  constructor(message = 'The server is already listening.') {
    super('ERR_ALREADY_LISTENING', message);
  }
}

/** A call that needs a listening server (a UDP multicast or broadcast setting) before listen() or after close(). */
export class NotListeningError extends SockframeError {
  declare readonly code: 'ERR_NOT_LISTENING';

  constructor(message = 'The server is not listening.') {
    super('ERR_NOT_LISTENING', message);
  }
}

/**
 * A TLS client refused the server's certificate (self-signed, expired, issued for another name…).
 * Not a network fault: it is never retried. `verifyCode` is OpenSSL's or Node's code for the
 * refusal, such as `DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED` or
 * `ERR_TLS_CERT_ALTNAME_INVALID`; `cause` is Node's error.
 */
export class TlsVerificationError extends SockframeError {
  declare readonly code: 'ERR_TLS_VERIFICATION';
  readonly verifyCode: string;

  constructor(verifyCode: string, target: string, cause?: unknown) {
    super('ERR_TLS_VERIFICATION', `The certificate of ${target} was refused: ${verifyCode}`, { cause });
    this.verifyCode = verifyCode;
  }
}

/** `connect()` was aborted by its AbortSignal or by `close()`. */
export class ConnectAbortedError extends SockframeError {
  declare readonly code: 'ERR_CONNECT_ABORTED';

  constructor(message = 'Connect aborted', cause?: unknown) {
    super('ERR_CONNECT_ABORTED', message, { cause });
  }
}

/** The peer ended the stream in the middle of a message; its bytes so far are discarded. */
export class IncompleteMessageError extends SockframeError {
  declare readonly code: 'ERR_INCOMPLETE_MESSAGE';
  readonly bufferedBytes: number;

  constructor(bufferedBytes: number) {
    super(
      'ERR_INCOMPLETE_MESSAGE',
      `Stream ended in the middle of a message (${bufferedBytes} bytes received)`,
    );
    this.bufferedBytes = bufferedBytes;
  }
}

/** A disconnected client's send queue (`queueWhileDisconnected`) would pass `maxPendingBytes`. */
export class QueueFullError extends SockframeError {
  declare readonly code: 'ERR_QUEUE_FULL';
  readonly queuedBytes: number;
  readonly limit: number;

  constructor(queuedBytes: number, limit: number) {
    super(
      'ERR_QUEUE_FULL',
      `Send queue of ${queuedBytes} bytes would exceed maxPendingBytes of ${limit} while disconnected`,
    );
    this.queuedBytes = queuedBytes;
    this.limit = limit;
  }
}

/**
 * A server's adapter cannot reach the other instances (the broker or the cluster primary is gone):
 * a broadcast could not be published to them, or broadcasts from them are missed until it recovers.
 * The server's own connections are served all along.
 */
export class AdapterUnavailableError extends SockframeError {
  declare readonly code: 'ERR_ADAPTER_UNAVAILABLE';
  /** The adapter's name, such as `redis` or `cluster`. */
  readonly adapter: string;

  constructor(adapter: string, message: string, cause?: unknown) {
    super('ERR_ADAPTER_UNAVAILABLE', message, { cause });
    this.adapter = adapter;
  }
}

/**
 * A message from the adapter's channel that is not a sockframe broadcast (another publisher on the
 * channel, another version), or a broadcast from another instance this server could not send on.
 */
export class AdapterMessageError extends SockframeError {
  declare readonly code: 'ERR_ADAPTER_MESSAGE';
  readonly adapter: string;

  constructor(adapter: string, message: string, cause?: unknown) {
    super('ERR_ADAPTER_MESSAGE', message, { cause });
    this.adapter = adapter;
  }
}

/**
 * The server's `memoryBudget` ran out, and this connection held the most of it (bytes of
 * incomplete messages it sent and of unsent replies to it).
 */
export class MemoryBudgetError extends SockframeError {
  declare readonly code: 'ERR_MEMORY_BUDGET';
  /** Bytes this connection held. */
  readonly heldBytes: number;
  /** Bytes held by all the server's connections, and the budget. */
  readonly usedBytes: number;
  readonly limit: number;

  constructor(heldBytes: number, usedBytes: number, limit: number) {
    super(
      'ERR_MEMORY_BUDGET',
      `The server's connections held ${usedBytes} bytes, past its memoryBudget of ${limit}; this connection held the most (${heldBytes})`,
    );
    this.heldBytes = heldBytes;
    this.usedBytes = usedBytes;
    this.limit = limit;
  }
}

/** Wraps anything thrown into a SockframeError, keeping a SockframeError as it is. */
export function asSockframeError(err: unknown): SockframeError {
  return err instanceof SockframeError ? err : new SocketError(err);
}

/** @internal A thrown value as text: an Error's message, else the value printed (never throws). */
export function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    return String(value);
  } catch {
    return 'unprintable value';
  }
}

/** The peer answered a call with a JSON-RPC error object. */
export class RemoteError extends SockframeError {
  declare readonly code: 'ERR_REMOTE';
  /** The error object's `code` (a JSON-RPC error code, such as -32601). */
  readonly rpcCode: number;
  /** The error object's `data`, when it had one. */
  readonly data: unknown;

  constructor(rpcCode: number, message: string, data?: unknown) {
    super('ERR_REMOTE', message);
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

/** A call got no response within its `timeout`. */
export class RequestTimeoutError extends SockframeError {
  declare readonly code: 'ERR_REQUEST_TIMEOUT';
  readonly method: string;
  readonly timeout: number;

  constructor(method: string, timeout: number) {
    super('ERR_REQUEST_TIMEOUT', `No response to '${method}' within ${timeout} ms`);
    this.method = method;
    this.timeout = timeout;
  }
}

/** A call was cancelled by its AbortSignal. */
export class RequestAbortedError extends SockframeError {
  declare readonly code: 'ERR_REQUEST_ABORTED';
  readonly method: string;

  constructor(method: string, cause?: unknown) {
    super('ERR_REQUEST_ABORTED', `The call to '${method}' was aborted`, { cause });
    this.method = method;
  }
}

/**
 * The connection closed before a call was answered, or a call was made without one. The call was
 * sent at most once and is never retried: the peer may or may not have run it.
 */
export class ConnectionLostError extends SockframeError {
  declare readonly code: 'ERR_CONNECTION_LOST';
  readonly method: string;
  /** Whether the request had been handed to the connection. */
  readonly sent: boolean;

  constructor(method: string, sent: boolean, cause?: unknown) {
    super(
      'ERR_CONNECTION_LOST',
      sent
        ? `The connection closed before '${method}' was answered`
        : `'${method}' was not sent: not connected`,
      { cause },
    );
    this.method = method;
    this.sent = sent;
  }
}

/** A call was refused locally: `maxPendingCalls` calls of this connection await responses already. */
export class TooManyPendingError extends SockframeError {
  declare readonly code: 'ERR_TOO_MANY_PENDING';
  readonly limit: number;

  constructor(limit: number) {
    super('ERR_TOO_MANY_PENDING', `${limit} calls are awaiting responses already (maxPendingCalls)`);
    this.limit = limit;
  }
}

/** The peer did not answer a heartbeat ping within the heartbeat's timeout; the connection is closed. */
export class HeartbeatTimeoutError extends SockframeError {
  declare readonly code: 'ERR_HEARTBEAT_TIMEOUT';
  readonly timeout: number;

  constructor(timeout: number) {
    super('ERR_HEARTBEAT_TIMEOUT', `No response to a heartbeat within ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * The peer broke the JSON-RPC protocol: a message that does not parse, is not a valid request or
 * response, or answers an id nobody asked. Answered per the specification where one is due; the
 * connection stays open.
 */
export class RpcProtocolError extends SockframeError {
  declare readonly code: 'ERR_RPC_PROTOCOL';
  /** The JSON-RPC code it was (or would have been) answered with: -32700, -32600 or 0 for a response. */
  readonly rpcCode: number;

  constructor(rpcCode: number, message: string, cause?: unknown) {
    super('ERR_RPC_PROTOCOL', message, { cause });
    this.rpcCode = rpcCode;
  }
}

/**
 * A method handler threw (or rejected with) something other than an RpcError. The peer got a
 * -32603 "Internal error" without details; the original error is the `cause`.
 */
export class RpcHandlerError extends SockframeError {
  declare readonly code: 'ERR_RPC_HANDLER_THREW';
  readonly method: string;

  constructor(method: string, cause: unknown) {
    super('ERR_RPC_HANDLER_THREW', `The handler of '${method}' threw: ${describe(cause)}`, { cause });
    this.method = method;
  }
}

/** The server's `handshake` refused a connection (it threw or rejected); the cause is what it threw. */
export class HandshakeRefusedError extends SockframeError {
  declare readonly code: 'ERR_HANDSHAKE_REFUSED';

  constructor(message: string, cause?: unknown) {
    super('ERR_HANDSHAKE_REFUSED', message, { cause });
  }
}

/** A connection's `handshake` did not complete within `acceptTimeout`. */
export class HandshakeTimeoutError extends SockframeError {
  declare readonly code: 'ERR_HANDSHAKE_TIMEOUT';
  readonly timeout: number;

  constructor(timeout: number) {
    super('ERR_HANDSHAKE_TIMEOUT', `Handshake not completed within acceptTimeout of ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * A Unix socket path (or Linux abstract name) longer than the system can bind or connect to:
 * the system would silently cut it. `limit` is the most bytes it takes (107 on Linux, 103 on
 * macOS and the BSDs; 108 for an abstract name, its leading NUL included).
 */
export class SocketPathTooLongError extends SockframeError {
  declare readonly code: 'ERR_SOCKET_PATH_TOO_LONG';
  readonly path: string;
  /** The path's length in bytes (UTF-8). */
  readonly bytes: number;
  readonly limit: number;

  constructor(path: string, bytes: number, limit: number, message?: string) {
    super(
      'ERR_SOCKET_PATH_TOO_LONG',
      message ??
        `Socket path of ${bytes} bytes exceeds the limit of ${limit} bytes on ${process.platform}: ${path}`,
    );
    this.path = path;
    this.bytes = bytes;
    this.limit = limit;
  }
}
