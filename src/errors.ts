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

/** The peer does not read fast enough: unsent bytes passed `maxPendingBytes`. */
export class SlowConsumerError extends SockframeError {
  declare readonly code: 'ERR_SLOW_CONSUMER';
  readonly pendingBytes: number;
  readonly limit: number;

  constructor(pendingBytes: number, limit: number) {
    super(
      'ERR_SLOW_CONSUMER',
      `Peer is not reading: ${pendingBytes} unsent bytes exceed maxPendingBytes of ${limit}`,
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

/** `send()` was called on a connection or client that is not open. */
export class NotConnectedError extends SockframeError {
  declare readonly code: 'ERR_NOT_CONNECTED';

  constructor(message = 'Not connected') {
    super('ERR_NOT_CONNECTED', message);
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
