import type { Connection } from '../connection';
import {
  ConnectionLostError,
  FrameTooLargeError,
  HeartbeatTimeoutError,
  RemoteError,
  RequestAbortedError,
  RequestTimeoutError,
  RpcHandlerError,
  RpcProtocolError,
  SockframeError,
  TooManyPendingError,
} from '../errors';
import { isThenable } from '../dispatch';
import { RPC_CALL, RPC_HANDLE, traced, traceMaybeAsync, type RpcTraceContext } from '../diagnostics';
import { checkTime, show } from '../options';
import {
  RPC_CODES,
  RpcError,
  type CallOptions,
  type HandleOptions,
  type HandlerContext,
  type ResolvedRpcOptions,
} from './json-rpc';

/** A JSON-RPC id as this side reads it: string, number, or null in some error responses. */
type RpcId = string | number | null;

/** Where the endpoint reports; implemented by the server or client that owns it. */
export interface RpcOwner {
  /** A notification arrived (after its handler, if any, was started). */
  notification(conn: Connection, method: string, params: unknown): void;
  /** A fault to report on the owner's 'error' event; the connection stays open. */
  report(err: SockframeError, conn: Connection): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- handlers of every method signature
type AnyHandler = (params: any, context: HandlerContext<any>) => unknown;

interface Registered {
  handler: AnyHandler;
  validate: ((params: unknown) => boolean | string) | undefined;
}

/** The first call of a connection, given to the server's handshake. */
export interface HandshakeCall {
  readonly method: string;
  readonly params: unknown;
}

/** What a server's handshake hook does with the first call of a connection (rpc only). */
export type HandshakeHook = (conn: Connection, call: HandshakeCall) => PromiseLike<void>;

/**
 * What every connection of one server (or one client) shares: the options, the handlers, the
 * owner. One RpcPeer per connection holds that connection's calls.
 */
export class RpcEndpoint {
  /** @internal */
  readonly options: ResolvedRpcOptions;
  readonly owner: RpcOwner;
  /** The largest message written, as the owner's maxMessageSize. */
  readonly maxMessageSize: number;
  private readonly handlers = new Map<string, Registered>();

  /** @internal */
  constructor(options: ResolvedRpcOptions, owner: RpcOwner, maxMessageSize: number) {
    this.options = options;
    this.owner = owner;
    this.maxMessageSize = maxMessageSize;
  }

  handle(method: unknown, handler: unknown, options: HandleOptions | undefined): void {
    if (typeof method !== 'string' || method === '') {
      throw new TypeError(`handle() takes a method name; got ${show(method)}.`);
    }
    if (method.startsWith('rpc.')) {
      throw new TypeError(
        `Method names beginning with "rpc." are reserved by JSON-RPC 2.0; got "${method}".`,
      );
    }
    if (typeof handler !== 'function') {
      throw new TypeError(`handle() takes a handler function; got ${show(handler)}.`);
    }
    const validate = options?.validate;
    if (validate !== undefined && typeof validate !== 'function') {
      throw new TypeError(`The "validate" option must be a function; got ${show(validate)}.`);
    }
    this.handlers.set(method, { handler: handler as AnyHandler, validate });
  }

  /** @internal */
  lookup(method: string): Registered | undefined {
    return this.handlers.get(method);
  }
}

interface PendingCall {
  readonly method: string;
  resolve(value: unknown): void;
  reject(err: SockframeError): void;
  /** When it times out (performance.now() ms); 0: never. */
  deadline: number;
  readonly timeout: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface IncomingCall {
  readonly id: RpcId;
  readonly method: string;
  readonly params: unknown;
  readonly entry: Registered;
  readonly answer: (response: object) => void;
  context: CallContext | undefined;
  /** The request's share of the bytes of the message it came in (charged while it waits). */
  readonly bytes: number;
}

/**
 * What a handler gets besides its params. Its AbortController is made only when the handler reads
 * `signal` (most never do, and one costs more than the rest of a small call); an abort before
 * that is remembered and applied then.
 */
class CallContext implements HandlerContext<Connection> {
  readonly conn: Connection;
  readonly id: RpcId | undefined;
  private controller: AbortController | undefined = undefined;
  private abortedEarly = false;
  private reason: unknown = undefined;

  constructor(conn: Connection, id: RpcId | undefined) {
    this.conn = conn;
    this.id = id;
  }

  get signal(): AbortSignal {
    let controller = this.controller;
    if (controller === undefined) {
      controller = this.controller = new AbortController();
      if (this.abortedEarly) controller.abort(this.reason);
    }
    return controller.signal;
  }

  get aborted(): boolean {
    return this.controller === undefined ? this.abortedEarly : this.controller.signal.aborted;
  }

  abort(reason: unknown): void {
    if (this.controller !== undefined) {
      this.controller.abort(reason);
    } else if (!this.abortedEarly) {
      this.abortedEarly = true;
      this.reason = reason;
    }
  }
}

/** Ids of calls given up on (aborted, timed out) whose late responses are dropped quietly. */
const ABANDONED_KEPT = 1024;

const INTERNAL_ERROR_MESSAGE = 'Internal error';

/** Methods this side answers itself. */
const PING = '$/ping';
const CANCEL = '$/cancelRequest';

/**
 * The JSON-RPC state of one connection: its outgoing calls awaiting responses, its incoming
 * calls running or waiting for a slot, its heartbeat.
 */
export class RpcPeer {
  private readonly endpoint: RpcEndpoint;
  private readonly conn: Connection;
  private readonly options: ResolvedRpcOptions;
  private nextId = 0;
  private readonly pending = new Map<number, PendingCall>();
  private readonly abandoned = new Set<number>();
  /** Incoming calls whose handlers run, by id. */
  private readonly running = new Map<RpcId, IncomingCall>();
  private runningCount = 0;
  /** Bytes of the requests waiting, held against the owner's memory budget. */
  private queuedBytes = 0;
  private draining = false;
  /** Incoming calls waiting for a slot, in arrival order. */
  private readonly waiting: IncomingCall[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Fires at `timerDeadline`, the earliest deadline of the pending calls when it was armed. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private timerDeadline = 0;
  private pinging = false;
  private closed = false;
  /** While set, the first request goes to it, and nothing else is served before it settles. */
  private handshake: HandshakeHook | undefined;
  /** The handshake refused this connection: nothing more is served. */
  private refused = false;
  /** Requests that arrived while the handshake call ran, replayed (or refused) once it settles. */
  private held: (() => void)[] | undefined;

  constructor(endpoint: RpcEndpoint, conn: Connection, handshake?: HandshakeHook) {
    this.endpoint = endpoint;
    this.conn = conn;
    this.options = endpoint.options;
    this.handshake = handshake;
    const heartbeat = this.options.heartbeat;
    if (heartbeat !== undefined) {
      this.heartbeatTimer = setInterval(() => this.beat(heartbeat.timeout), heartbeat.interval);
      this.heartbeatTimer.unref();
    }
  }

  /** Outgoing calls awaiting their responses. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  // ------------------------------------------------------------------ outgoing

  call(method: unknown, params: unknown, options: CallOptions | undefined): Promise<unknown> {
    if (typeof method !== 'string') {
      return Promise.reject(new TypeError(`call() takes a method name; got ${show(method)}.`));
    }
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      checkParams(params);
      if (options !== undefined && (typeof options !== 'object' || options === null)) {
        throw new TypeError(`call() takes an options object; got ${show(options)}.`);
      }
      timeout = checkTime('timeout', options?.timeout, this.options.callTimeout);
      signal = options?.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError(`The "signal" option must be an AbortSignal; got ${show(signal)}.`);
      }
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the caller threw, as it is
      return Promise.reject(err);
    }
    const id = ++this.nextId;
    // Heartbeat pings are not traced: they are this side's own, one per interval.
    if (method === PING || !traced(RPC_CALL)) return this.request(id, method, params, timeout, signal);
    const context: RpcTraceContext = { method, params, id, conn: this.conn };
    return traceMaybeAsync<Promise<unknown>>(RPC_CALL, context, () =>
      this.request(id, method, params, timeout, signal),
    );
  }

  /** Sends a call whose arguments are checked, and waits for its response. */
  private request(
    id: number,
    method: string,
    params: unknown,
    timeout: number,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.closed || !this.conn.isOpen) return Promise.reject(new ConnectionLostError(method, false));
    if (signal?.aborted === true) return Promise.reject(new RequestAbortedError(method, signal.reason));
    if (this.pending.size >= this.options.maxPendingCalls && method !== PING) {
      return Promise.reject(new TooManyPendingError(this.options.maxPendingCalls));
    }
    const message =
      params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params };
    let payload: Buffer | Uint8Array | string;
    try {
      payload = this.encode(message);
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the caller threw, as it is
      return Promise.reject(err);
    }
    try {
      this.conn.send(payload);
    } catch (err) {
      return Promise.reject(new ConnectionLostError(method, false, err));
    }
    return new Promise<unknown>((resolve, reject) => {
      const call: PendingCall = { method, resolve, reject, deadline: 0, timeout, signal, onAbort: undefined };
      if (timeout > 0) this.watchDeadline(call, timeout);
      if (signal !== undefined) {
        call.onAbort = () => this.giveUp(id, new RequestAbortedError(method, signal.reason));
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.pending.set(id, call);
    });
  }

  notify(method: unknown, params: unknown): void {
    if (typeof method !== 'string') throw new TypeError(`notify() takes a method name; got ${show(method)}.`);
    checkParams(params);
    const message = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
    this.conn.send(this.encode(message));
  }

  /** Rejects a call without its response, and tells the peer it may stop (`$/cancelRequest`). */
  private giveUp(id: number, err: SockframeError): void {
    const call = this.pending.get(id);
    if (call === undefined) return;
    this.settle(id, call);
    this.abandoned.add(id);
    if (this.abandoned.size > ABANDONED_KEPT) {
      this.abandoned.delete(this.abandoned.values().next().value as number);
    }
    call.reject(err);
    if (this.conn.isOpen) {
      try {
        this.conn.send(this.encode({ jsonrpc: '2.0', method: CANCEL, params: { id } }));
      } catch {
        // Closing at this moment: nothing is running there for long.
      }
    }
  }

  private settle(id: number, call: PendingCall): void {
    this.pending.delete(id);
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort);
  }

  /**
   * One timer per connection, armed for the earliest deadline, instead of one per call: a timer
   * made and cleared for every call costs more than a small call itself when calls go one at a
   * time (Node then drops and remakes its timer list each call). Answered calls leave the timer
   * as it is; when it fires, the calls past their deadline are given up and it is armed again.
   */
  private watchDeadline(call: PendingCall, timeout: number): void {
    const now = performance.now();
    call.deadline = now + timeout;
    if (this.deadlineTimer === undefined || call.deadline < this.timerDeadline)
      this.armDeadline(call.deadline, now);
  }

  private armDeadline(deadline: number, now: number): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.timerDeadline = deadline;
    this.deadlineTimer = setTimeout(expireCalls, Math.max(1, Math.ceil(deadline - now)), this);
    // The socket keeps the process alive while calls wait; this timer alone never does.
    this.deadlineTimer.unref();
  }

  /** @internal The deadline timer fired. */
  expire(): void {
    this.deadlineTimer = undefined;
    const now = performance.now();
    let next = Infinity;
    for (const [id, call] of this.pending) {
      if (call.deadline === 0) continue;
      if (call.deadline <= now) this.giveUp(id, new RequestTimeoutError(call.method, call.timeout));
      else if (call.deadline < next) next = call.deadline;
    }
    if (next !== Infinity && !this.closed) this.armDeadline(next, now);
  }

  private beat(timeout: number): void {
    if (this.pinging || !this.conn.isOpen) return;
    this.pinging = true;
    this.call(PING, undefined, { timeout }).then(
      () => (this.pinging = false),
      (err: unknown) => {
        this.pinging = false;
        // Any response, an error one included, shows that the peer is there.
        if (err instanceof RequestTimeoutError) this.conn.destroy(new HeartbeatTimeoutError(timeout));
      },
    );
  }

  // ------------------------------------------------------------------ incoming

  /** One whole message from the connection. */
  receive(message: Buffer): void {
    let value: unknown;
    try {
      value = this.options.serializer.decode(message);
    } catch (err) {
      this.protocolFault(RPC_CODES.PARSE_ERROR, `A message could not be parsed: ${describeError(err)}`, err);
      this.write(errorResponse(null, RPC_CODES.PARSE_ERROR, 'Parse error'));
      return;
    }
    if (Array.isArray(value)) {
      this.receiveBatch(value, message.length);
      return;
    }
    this.receiveOne(value, (response) => this.write(response), message.length);
  }

  /** `size`: the batch's bytes, shared among its requests while they wait for a slot. */
  private receiveBatch(batch: unknown[], size: number): void {
    if (batch.length === 0) {
      this.protocolFault(RPC_CODES.INVALID_REQUEST, 'An empty batch');
      this.write(errorResponse(null, RPC_CODES.INVALID_REQUEST, 'Invalid Request'));
      return;
    }
    if (batch.length > this.options.maxBatchSize) {
      this.protocolFault(RPC_CODES.INVALID_REQUEST, `A batch of ${batch.length} messages (maxBatchSize)`);
      this.write(
        errorResponse(null, RPC_CODES.INVALID_REQUEST, 'Invalid Request', {
          reason: 'batch too large',
          maxBatchSize: this.options.maxBatchSize,
        }),
      );
      return;
    }
    const share = Math.ceil(size / batch.length);
    const responses: (object | undefined)[] = new Array<object | undefined>(batch.length);
    let outstanding = batch.length;
    // Counted as one running handler: a graceful close keeps writing until the batch is answered.
    this.conn.handlerStarted();
    const done = (): void => {
      if (--outstanding > 0) return;
      const answers = responses.filter((r) => r !== undefined);
      if (answers.length > 0) this.write(answers);
      this.conn.handlerSettled();
    };
    for (let i = 0; i < batch.length; i++) {
      let answered = false;
      const expects = this.receiveOne(
        batch[i],
        (response) => {
          if (answered) return;
          answered = true;
          responses[i] = response;
          done();
        },
        share,
      );
      if (!expects && !answered) {
        answered = true;
        done();
      }
    }
  }

  /**
   * Handles one request, notification or response. Returns whether `answer` will be called (a
   * request, valid or not), possibly later. `bytes`: its size, charged while it waits for a slot.
   */
  private receiveOne(value: unknown, answer: (response: object) => void, bytes: number): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.protocolFault(RPC_CODES.INVALID_REQUEST, `A message that is not an object: ${show(value)}`);
      answer(errorResponse(null, RPC_CODES.INVALID_REQUEST, 'Invalid Request'));
      return true;
    }
    const message = value as Record<string, unknown>;
    const hasId = 'id' in message;
    const id = message.id;
    const idValid = id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    if (message.jsonrpc !== '2.0') {
      this.protocolFault(RPC_CODES.INVALID_REQUEST, 'A message without "jsonrpc": "2.0"');
      answer(errorResponse(hasId && idValid ? id : null, RPC_CODES.INVALID_REQUEST, 'Invalid Request'));
      return true;
    }
    if (!('method' in message) && ('result' in message || 'error' in message)) {
      this.receiveResponse(message);
      return false;
    }
    const method = message.method;
    const params = message.params;
    if (
      typeof method !== 'string' ||
      (hasId && !idValid) ||
      (params !== undefined && (typeof params !== 'object' || params === null))
    ) {
      this.protocolFault(RPC_CODES.INVALID_REQUEST, 'A request that is not a valid JSON-RPC 2.0 request');
      answer(errorResponse(hasId && idValid ? id : null, RPC_CODES.INVALID_REQUEST, 'Invalid Request'));
      return true;
    }
    if (!hasId) {
      this.receiveNotification(method, params);
      return false;
    }
    this.receiveRequest(id as RpcId, method, params, answer, bytes);
    return true;
  }

  private receiveResponse(message: Record<string, unknown>): void {
    const id = message.id;
    const error = message.error;
    if ('error' in message && !isErrorObject(error)) {
      this.protocolFault(0, `A response with a malformed error object (id ${show(id)})`);
      return;
    }
    if (typeof id !== 'number') {
      if (isErrorObject(error)) {
        // id null: the peer could not read one of our messages.
        this.protocolFault(
          0,
          `The peer reported an error for id ${show(id)}: ${error.code} ${error.message}`,
        );
      } else {
        this.protocolFault(0, `A response with an id this side never used: ${show(id)}`);
      }
      return;
    }
    const call = this.pending.get(id);
    if (call === undefined) {
      if (this.abandoned.delete(id)) return; // the late answer to a call given up on
      this.protocolFault(0, `A response with an unknown id: ${id}`);
      return;
    }
    this.settle(id, call);
    if (isErrorObject(error)) call.reject(new RemoteError(error.code, error.message, error.data));
    else call.resolve(message.result);
  }

  private receiveNotification(method: string, params: unknown): void {
    if (method === CANCEL) {
      this.cancel((params as { id?: unknown } | undefined)?.id);
      return;
    }
    if (this.handshake !== undefined || this.refused) return; // nothing is served before the handshake
    const entry = this.endpoint.lookup(method);
    if (entry !== undefined && (entry.validate === undefined || entry.validate(params) === true)) {
      this.invoke(method, entry, params, new CallContext(this.conn, undefined)).then(
        undefined,
        (err: unknown) => {
          if (!(err instanceof RpcError))
            this.endpoint.owner.report(new RpcHandlerError(method, err), this.conn);
        },
      );
    }
    this.endpoint.owner.notification(this.conn, method, params);
  }

  private receiveRequest(
    id: RpcId,
    method: string,
    params: unknown,
    answer: (response: object) => void,
    bytes: number,
  ): void {
    if (method === PING) {
      answer({ jsonrpc: '2.0', id, result: null });
      return;
    }
    if (this.refused) {
      answer(errorResponse(id, RPC_CODES.HANDSHAKE_REFUSED, 'Handshake refused'));
      return;
    }
    const handshake = this.handshake;
    if (handshake !== undefined) {
      this.receiveHandshake(handshake, id, method, params, answer);
      return;
    }
    if (this.held !== undefined) {
      if (this.held.length >= this.options.maxQueuedCalls) {
        answer(
          errorResponse(id, RPC_CODES.OVERLOADED, 'Too many calls waiting: the call was not run', {
            retryable: true,
          }),
        );
        return;
      }
      this.holdQueued(bytes);
      this.held.push(() => {
        this.holdQueued(-bytes);
        this.receiveRequest(id, method, params, answer, bytes);
      });
      return;
    }
    if (!this.conn.isOpen) {
      answer(errorResponse(id, RPC_CODES.CLOSING, 'Closing: the call was not run', { retryable: true }));
      return;
    }
    const entry = this.endpoint.lookup(method);
    if (entry === undefined) {
      answer(errorResponse(id, RPC_CODES.METHOD_NOT_FOUND, 'Method not found', { method }));
      return;
    }
    if (entry.validate !== undefined) {
      const verdict = entry.validate(params);
      if (verdict !== true) {
        const data = typeof verdict === 'string' ? { reason: verdict } : undefined;
        answer(errorResponse(id, RPC_CODES.INVALID_PARAMS, 'Invalid params', data));
        return;
      }
    }
    const call: IncomingCall = {
      id,
      method,
      params,
      entry,
      answer,
      context: undefined,
      bytes,
    };
    if (this.runningCount < this.options.maxConcurrentCalls) {
      this.start(call);
      return;
    }
    // Reading goes on: pausing it would hold back the responses running handlers may be awaiting
    // from this peer. The excess waits, up to maxQueuedCalls.
    if (this.waiting.length >= this.options.maxQueuedCalls) {
      answer(
        errorResponse(id, RPC_CODES.OVERLOADED, 'Too many calls waiting: the call was not run', {
          retryable: true,
        }),
      );
      return;
    }
    this.conn.handlerStarted();
    this.waiting.push(call);
    this.holdQueued(call.bytes);
  }

  /** Requests waiting (for a slot, or for the handshake) hold their bytes against the memory budget. */
  private holdQueued(delta: number): void {
    this.queuedBytes += delta;
    this.conn.holdQueued(this.queuedBytes);
  }

  private receiveHandshake(
    handshake: HandshakeHook,
    id: RpcId,
    method: string,
    params: unknown,
    answer: (response: object) => void,
  ): void {
    this.handshake = undefined;
    this.conn.handlerStarted();
    // Further requests wait until it settles: they are served once the connection's data is in place.
    this.held = [];
    const replay = (): void => {
      const held = this.held ?? [];
      this.held = undefined;
      for (const request of held) request();
    };
    handshake(this.conn, { method, params }).then(
      () => {
        answer({ jsonrpc: '2.0', id, result: true });
        this.conn.handlerSettled();
        replay();
      },
      (err: unknown) => {
        this.refused = true;
        const refusal =
          err instanceof RpcError
            ? errorResponse(id, err.code, err.message, err.data)
            : errorResponse(id, RPC_CODES.HANDSHAKE_REFUSED, 'Handshake refused');
        answer(refusal);
        replay(); // each answered as refused
        this.conn.handlerSettled();
      },
    );
  }

  private start(call: IncomingCall): void {
    this.runningCount++;
    this.conn.handlerStarted();
    const context = new CallContext(this.conn, call.id);
    call.context = context;
    this.running.set(call.id, call);
    let result: unknown;
    try {
      result = this.run(call.method, call.entry, call.params, context);
    } catch (err) {
      this.finish(call, this.failureResponse(call, err, context));
      return;
    }
    // A plain value is answered at once: no promise, no extra turn.
    if (!isThenable(result)) {
      this.finish(call, resultResponse(call.id, result));
      return;
    }
    Promise.resolve(result).then(
      (value) => this.finish(call, resultResponse(call.id, value)),
      (err: unknown) => this.finish(call, this.failureResponse(call, err, context)),
    );
  }

  /** Calls a handler; what it throws or rejects with becomes the promise's rejection. */
  private invoke(method: string, entry: Registered, params: unknown, context: CallContext): Promise<unknown> {
    try {
      return Promise.resolve(this.run(method, entry, params, context));
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the caller threw, as it is
      return Promise.reject(err);
    }
  }

  /** Calls a handler, inside the handle tracing channel when it has subscribers. */
  private run(method: string, entry: Registered, params: unknown, context: CallContext): unknown {
    if (!traced(RPC_HANDLE)) return entry.handler(params, context);
    return traceMaybeAsync(RPC_HANDLE, { method, params, id: context.id, conn: this.conn }, () =>
      entry.handler(params, context),
    );
  }

  private failureResponse(call: IncomingCall, err: unknown, context: CallContext): object {
    if (err instanceof RpcError) return errorResponse(call.id, err.code, err.message, err.data);
    if (context.aborted) return errorResponse(call.id, RPC_CODES.REQUEST_CANCELLED, 'Request cancelled');
    this.endpoint.owner.report(new RpcHandlerError(call.method, err), this.conn);
    return errorResponse(call.id, RPC_CODES.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE);
  }

  private finish(call: IncomingCall, response: object): void {
    if (this.running.get(call.id) === call) this.running.delete(call.id);
    this.runningCount--;
    call.answer(response);
    this.conn.handlerSettled();
    this.drainWaiting();
  }

  private drainWaiting(): void {
    // A handler that answers at once finishes inside start(): the outer loop goes on, unnested.
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.runningCount < this.options.maxConcurrentCalls && this.waiting.length > 0) {
        const next = this.waiting.shift() as IncomingCall;
        this.holdQueued(-next.bytes);
        this.conn.handlerSettled(); // counted again by start()
        if (this.closed) continue;
        this.start(next);
      }
    } finally {
      this.draining = false;
    }
  }

  /** `$/cancelRequest`: a waiting call is answered as cancelled; a running one has its signal aborted. */
  private cancel(id: unknown): void {
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const index = this.waiting.findIndex((call) => call.id === id);
    if (index >= 0) {
      const [call] = this.waiting.splice(index, 1) as [IncomingCall];
      this.holdQueued(-call.bytes);
      call.answer(errorResponse(call.id, RPC_CODES.REQUEST_CANCELLED, 'Request cancelled'));
      this.conn.handlerSettled();
      return;
    }
    const running = this.running.get(id);
    running?.context?.abort(new RequestAbortedError(running.method));
  }

  /** Serialises and writes one response (or a batch of them); one too large becomes -32603. */
  private write(response: object): void {
    if (this.closed) return;
    let payload: Buffer | Uint8Array | string;
    try {
      payload = this.encode(response);
    } catch (err) {
      const id = Array.isArray(response) ? null : ((response as { id?: RpcId }).id ?? null);
      this.endpoint.owner.report(new RpcHandlerError(describeMethod(response), err), this.conn);
      payload = this.encode(errorResponse(id, RPC_CODES.INTERNAL_ERROR, INTERNAL_ERROR_MESSAGE));
    }
    try {
      this.conn.send(payload);
    } catch {
      // The connection closed meanwhile: the caller learns that from its own close.
    }
  }

  private encode(message: object): Buffer | Uint8Array | string {
    const payload = this.options.serializer.encode(message);
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size > this.endpoint.maxMessageSize) throw new FrameTooLargeError(size, this.endpoint.maxMessageSize);
    return payload;
  }

  private protocolFault(rpcCode: number, message: string, cause?: unknown): void {
    this.endpoint.owner.report(new RpcProtocolError(rpcCode, message, cause), this.conn);
  }

  // ------------------------------------------------------------------ closing

  /** The connection closed: pending calls fail, running handlers are told, waiting calls are dropped. */
  connectionClosed(reason: SockframeError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const [id, call] of [...this.pending]) {
      this.settle(id, call);
      call.reject(new ConnectionLostError(call.method, true, reason));
    }
    this.abandoned.clear();
    for (const call of this.running.values())
      call.context?.abort(new ConnectionLostError(call.method, true, reason));
    this.running.clear();
    for (let i = 0; i < this.waiting.length; i++) this.conn.handlerSettled();
    this.waiting.length = 0;
    this.queuedBytes = 0;
  }
}

function expireCalls(peer: RpcPeer): void {
  peer.expire();
}

function checkParams(params: unknown): void {
  if (params !== undefined && (typeof params !== 'object' || params === null)) {
    throw new TypeError(`JSON-RPC params must be an object or an array; got ${show(params)}.`);
  }
}

function isErrorObject(value: unknown): value is { code: number; message: string; data?: unknown } {
  if (typeof value !== 'object' || value === null) return false;
  const error = value as { code?: unknown; message?: unknown };
  return Number.isInteger(error.code) && typeof error.message === 'string';
}

function resultResponse(id: RpcId, result: unknown): object {
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
}

function errorResponse(id: RpcId, code: number, message: string, data?: unknown): object {
  const error = data === undefined ? { code, message } : { code, message, data };
  return { jsonrpc: '2.0', id, error };
}

function describeMethod(response: object): string {
  return Array.isArray(response) ? 'a batch' : `response ${show((response as { id?: unknown }).id)}`;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : show(err);
}
