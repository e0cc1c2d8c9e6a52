/**
 * `sockframe/redis`: a ServerAdapter over Redis pub/sub, for instances on several machines. It
 * uses the ioredis clients it is given and never loads ioredis itself, so the core package keeps
 * its two runtime dependencies; ioredis is an optional peer dependency of this entry point.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AdapterMessageError, AdapterUnavailableError, describe } from '../errors';
import { checkOptionKeys, checkString, checkTime, optionKeys, show } from '../options';
import { publishAdapter } from '../diagnostics';
import type { AdapterHooks, ServerAdapter } from '../adapters/adapter';

/** The events of an ioredis client the adapter listens to. */
export interface RedisEventSource {
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  off(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'ready' | 'close', listener: () => void): unknown;
}

/** The part of an ioredis client that publishes (a `Redis`, or a `Cluster`). */
export interface RedisPublisher extends RedisEventSource {
  /** ioredis' connection status; the adapter publishes only when it is 'ready'. */
  readonly status: string;
  publish(channel: Buffer, message: Buffer): Promise<unknown>;
}

/** The part of an ioredis client that subscribes; a connection of its own (Redis' subscriber mode). */
export interface RedisSubscriber extends RedisEventSource {
  readonly status: string;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
}

export interface RedisAdapterOptions {
  /**
   * An ioredis client for PUBLISH. Give it `enableOfflineQueue: false`: the adapter publishes only
   * while it is ready anyway, and a command caught by a connection loss then fails at once (and is
   * reported) instead of waiting in ioredis' queue.
   */
  publisher: RedisPublisher;
  /** Another ioredis client for SUBSCRIBE (a subscribed connection can do nothing else). */
  subscriber: RedisSubscriber;
  /**
   * The pub/sub channel; the instances of one service share it.
   * @default 'sockframe'
   */
  channel?: string;
  /**
   * Milliseconds listen() waits for both clients to be ready and subscribed. Past it the server
   * starts anyway, serving its own connections, and reports ERR_ADAPTER_UNAVAILABLE; the adapter
   * joins in when Redis answers. 0: do not wait.
   * @default 5000
   */
  attachTimeout?: number;
  /**
   * Milliseconds Redis has to answer a PUBLISH. Past it (a Redis that hangs while its connection
   * stays open) the broadcasts waiting for an answer are reported once as ERR_ADAPTER_UNAVAILABLE,
   * and later broadcasts are not sent to Redis (each reports ERR_ADAPTER_UNAVAILABLE at once)
   * until it answers again. 0: never give up waiting.
   * @default 1000
   */
  publishTimeout?: number;
}

const REDIS_ADAPTER_KEYS = optionKeys<RedisAdapterOptions>()(
  'publisher',
  'subscriber',
  'channel',
  'attachTimeout',
  'publishTimeout',
);

export const REDIS_ADAPTER_DEFAULTS = Object.freeze({
  channel: 'sockframe',
  attachTimeout: 5_000,
  publishTimeout: 1_000,
});

/**
 * The envelope of each published broadcast, binary: the 2 bytes "sf", a version byte, the length
 * of the instance id, the id, then the payload as it is.
 */
const MAGIC_0 = 0x73;
const MAGIC_1 = 0x66;
const VERSION = 1;
const ID_BYTES = 8;
const HEADER_BYTES = 4 + ID_BYTES;

type Role = 'publisher' | 'subscriber';

/** One of the two connections, as the adapter last saw it. */
interface Link {
  up: boolean;
  wasEverUp: boolean;
  downSince: number;
}

/** How many adapters use each channel of a shared subscriber, so that closing one keeps the others'. */
const channelUsers = new WeakMap<RedisSubscriber, Map<string, number>>();

/**
 * Shares broadcasts between server instances through Redis pub/sub, the way socket.io's Redis
 * adapter does: each broadcast is published once on the channel with this instance's id; every
 * other instance sends it to its own connections, and this one ignores its own.
 *
 * ```ts
 * import Redis from 'ioredis';
 * import { RedisAdapter } from 'sockframe/redis';
 * const adapter = new RedisAdapter({
 *   publisher: new Redis({ enableOfflineQueue: false }),
 *   subscriber: new Redis(),
 *   channel: 'chat',
 * });
 * const server = new TcpServer({ adapter });
 * ```
 *
 * When Redis goes away, the server goes on serving its own connections; each broadcast made
 * meanwhile reaches them and fails for the others with ERR_ADAPTER_UNAVAILABLE on the server's
 * 'error' event (never queued, never dropped without a word); the lost subscription is reported
 * once. ioredis reconnects, the adapter subscribes again, and broadcasts reach everyone once more.
 * The clients remain the caller's: the adapter adds listeners (including 'error', logged at
 * debug) and removes them on close, and never quits them.
 */
export class RedisAdapter implements ServerAdapter {
  readonly name = 'redis';
  readonly channel: string;
  /** This instance's id in the envelope (hex). */
  readonly instanceId: string;
  private readonly publisher: RedisPublisher;
  private readonly subscriber: RedisSubscriber;
  private readonly channelBytes: Buffer;
  private readonly id: Buffer;
  private readonly attachTimeout: number;
  private readonly publishTimeout: number;
  private hooks: AdapterHooks | undefined;
  private log: Logger | undefined;
  /** Ends attach()'s wait for both connections: true once up, or the error of a failed SUBSCRIBE. */
  private stopWaiting: ((outcome: boolean | Error) => void) | undefined;
  /** PUBLISH commands Redis has not answered yet: id → when sent. The first is the oldest. */
  private readonly unanswered = new Map<number, number>();
  private publishCount = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Redis left a PUBLISH unanswered past publishTimeout: broadcasts stay here until it answers. */
  private stalledSince = 0;
  private readonly links: Record<Role, Link> = {
    publisher: { up: false, wasEverUp: false, downSince: 0 },
    subscriber: { up: false, wasEverUp: false, downSince: 0 },
  };

  constructor(options: RedisAdapterOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('RedisAdapter needs { publisher, subscriber }, two ioredis clients.');
    }
    checkOptionKeys('RedisAdapter', options, REDIS_ADAPTER_KEYS);
    const { publisher, subscriber } = options;
    checkClient('publisher', publisher, ['publish']);
    checkClient('subscriber', subscriber, ['subscribe', 'unsubscribe']);
    if ((publisher as unknown) === subscriber) {
      throw new TypeError(
        'The publisher and the subscriber must be two ioredis clients: a subscribed connection cannot publish.',
      );
    }
    const channel = checkString('channel', options.channel, REDIS_ADAPTER_DEFAULTS.channel);
    this.publisher = publisher;
    this.subscriber = subscriber;
    this.channel = channel;
    this.attachTimeout = checkTime(
      'attachTimeout',
      options.attachTimeout,
      REDIS_ADAPTER_DEFAULTS.attachTimeout,
    );
    this.publishTimeout = checkTime(
      'publishTimeout',
      options.publishTimeout,
      REDIS_ADAPTER_DEFAULTS.publishTimeout,
    );
    this.channelBytes = Buffer.from(channel, 'utf8');
    this.id = randomBytes(ID_BYTES);
    this.instanceId = this.id.toString('hex');
  }

  async attach(hooks: AdapterHooks): Promise<void> {
    if (this.hooks !== undefined) {
      throw new TypeError('This RedisAdapter is attached to a server already; create one per server.');
    }
    this.hooks = hooks;
    const log = (this.log = hooks.log.child({ channel: this.channel, instanceId: this.instanceId }));
    this.publisher.on('ready', this.onPublisherReady);
    this.publisher.on('close', this.onPublisherClose);
    this.publisher.on('error', this.onPublisherError);
    this.subscriber.on('messageBuffer', this.onMessage);
    this.subscriber.on('ready', this.onSubscriberReady);
    this.subscriber.on('close', this.onSubscriberClose);
    this.subscriber.on('error', this.onSubscriberError);
    claimChannel(this.subscriber, this.channel);
    if (this.publisher.status === 'ready') this.markUp('publisher');
    if (this.subscriber.status === 'ready') {
      // Not awaited on its own: a Redis that hangs with its connection open never answers, and
      // listen() must still start within attachTimeout.
      this.subscriber.subscribe(this.channel).then(
        () => {
          if (this.hooks === hooks) this.markUp('subscriber');
        },
        (err: unknown) => {
          const failure = new AdapterUnavailableError(
            this.name,
            `Could not subscribe to the Redis channel "${this.channel}": ${describe(err)}`,
            err,
          );
          if (this.stopWaiting !== undefined && this.hooks === hooks) this.stopWaiting(failure);
          else log.debug({ role: 'subscriber', detail: describe(err) }, 'adapter could not subscribe yet');
        },
      );
    }
    if (this.attachTimeout === 0) return;
    if (this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') {
      // Clients still connecting (the usual case at start): the subscriber subscribes on 'ready'.
      log.info(
        { publisher: this.publisher.status, subscriber: this.subscriber.status },
        'adapter waiting for Redis',
      );
    }
    const outcome = await this.waitUntilUp();
    if (outcome instanceof Error) {
      this.release();
      throw outcome;
    }
    if (outcome || this.hooks !== hooks) return;
    const missing = (['publisher', 'subscriber'] as const).filter((role) => !this.links[role].up);
    log.warn({ missing, timeoutMs: this.attachTimeout }, 'adapter not connected; serving this instance only');
    hooks.error(
      new AdapterUnavailableError(
        this.name,
        `Redis was not reachable within ${this.attachTimeout} ms (${missing.join(' and ')} not ready): broadcasts stay on this instance until it is.`,
      ),
    );
  }

  publish(payload: Buffer): Promise<unknown> {
    const status = this.publisher.status;
    if (status !== 'ready') {
      throw new AdapterUnavailableError(
        this.name,
        `Redis is unavailable (publisher ${status}): the broadcast reached this instance's connections only.`,
      );
    }
    if (this.stalledSince !== 0) {
      throw new AdapterUnavailableError(
        this.name,
        `Redis has not answered a PUBLISH for ${Date.now() - this.stalledSince + this.publishTimeout} ms: the broadcast reached this instance's connections only.`,
      );
    }
    const envelope = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    envelope[0] = MAGIC_0;
    envelope[1] = MAGIC_1;
    envelope[2] = VERSION;
    envelope[3] = ID_BYTES;
    this.id.copy(envelope, 4);
    payload.copy(envelope, HEADER_BYTES);
    const sent = this.publisher.publish(this.channelBytes, envelope);
    if (this.publishTimeout === 0) return sent;
    const id = ++this.publishCount;
    this.unanswered.set(id, Date.now());
    this.watchStall();
    return sent.then(
      (answer) => {
        this.answered(id);
        return answer;
      },
      (err: unknown) => {
        // Already reported with the stall: a later failure of the same command is not news.
        if (this.answered(id)) return undefined;
        throw err;
      },
    );
  }

  /** Arms the one timer that checks the oldest unanswered PUBLISH. */
  private watchStall(): void {
    if (this.stallTimer !== undefined || this.stalledSince !== 0) return;
    const oldest = this.unanswered.values().next();
    if (oldest.done === true) return;
    const wait = Math.max(0, oldest.value + this.publishTimeout - Date.now());
    this.stallTimer = setTimeout(() => this.checkStall(), wait);
    // The server's own sockets keep the process alive; this timer never should on its own.
    this.stallTimer.unref();
  }

  private checkStall(): void {
    this.stallTimer = undefined;
    const oldest = this.unanswered.values().next();
    if (oldest.done === true) return;
    const waitedMs = Date.now() - oldest.value;
    if (waitedMs < this.publishTimeout) return this.watchStall();
    this.stalledSince = Date.now();
    const count = this.unanswered.size;
    this.log?.warn({ role: 'publisher', unanswered: count, waitedMs }, 'adapter connection stalled');
    this.hooks?.error(
      new AdapterUnavailableError(
        this.name,
        `Redis has not answered ${count} PUBLISH commands within ${this.publishTimeout} ms: those broadcasts reached this instance's connections; the other instances get them only if Redis resumes, late. Further broadcasts stay on this instance until it answers.`,
      ),
    );
  }

  /** A PUBLISH was answered (or failed). Returns true when it had been reported with a stall. */
  private answered(id: number): boolean {
    if (!this.unanswered.delete(id)) return false;
    const stalled = this.stalledSince !== 0;
    if (stalled && this.unanswered.size === 0) {
      this.log?.info({ role: 'publisher', downMs: Date.now() - this.stalledSince }, 'adapter recovered');
      this.stalledSince = 0;
    }
    if (!stalled) {
      // The oldest may have changed: the timer re-arms for the next one when it fires.
      if (this.unanswered.size === 0 && this.stallTimer !== undefined) {
        clearTimeout(this.stallTimer);
        this.stallTimer = undefined;
      }
    }
    return stalled;
  }

  close(): void {
    if (this.hooks === undefined) return;
    this.release();
  }

  private bothUp(): boolean {
    return this.links.publisher.up && this.links.subscriber.up;
  }

  /** Resolves true once both connections are up, false after attachTimeout, or a SUBSCRIBE's failure. */
  private waitUntilUp(): Promise<boolean | Error> {
    if (this.bothUp()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.stopWaiting?.(false), this.attachTimeout);
      this.stopWaiting = (outcome) => {
        clearTimeout(timer);
        this.stopWaiting = undefined;
        resolve(outcome);
      };
    });
  }

  private release(): void {
    this.stopWaiting?.(true);
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.unanswered.clear();
    this.stalledSince = 0;
    this.publisher.off('ready', this.onPublisherReady);
    this.publisher.off('close', this.onPublisherClose);
    this.publisher.off('error', this.onPublisherError);
    this.subscriber.off('messageBuffer', this.onMessage);
    this.subscriber.off('ready', this.onSubscriberReady);
    this.subscriber.off('close', this.onSubscriberClose);
    this.subscriber.off('error', this.onSubscriberError);
    const log = this.log;
    if (releaseChannel(this.subscriber, this.channel) && this.subscriber.status === 'ready') {
      // Not awaited: close() must not hang on a Redis that is going away.
      this.subscriber.unsubscribe(this.channel).catch((err: unknown) => {
        log?.debug({ role: 'subscriber', detail: describe(err) }, 'adapter could not unsubscribe');
      });
    }
    const wasUp = this.bothUp();
    this.links.publisher = { up: false, wasEverUp: false, downSince: 0 };
    this.links.subscriber = { up: false, wasEverUp: false, downSince: 0 };
    if (wasUp)
      publishAdapter(false, { adapter: this, name: this.name, channel: this.channel, reason: 'closed' });
    this.hooks = undefined;
    this.log = undefined;
  }

  private readonly onMessage = (channel: Buffer, message: Buffer): void => {
    const hooks = this.hooks;
    if (hooks === undefined || !channel.equals(this.channelBytes)) return;
    if (
      message.length < HEADER_BYTES ||
      message[0] !== MAGIC_0 ||
      message[1] !== MAGIC_1 ||
      message[2] !== VERSION ||
      message[3] !== ID_BYTES
    ) {
      hooks.error(
        new AdapterMessageError(
          this.name,
          `A message of ${message.length} bytes on the Redis channel "${this.channel}" is not a sockframe broadcast; it was ignored.`,
        ),
      );
      return;
    }
    if (message.compare(this.id, 0, ID_BYTES, 4, HEADER_BYTES) === 0) return; // our own
    hooks.deliver(message.subarray(HEADER_BYTES));
  };

  private readonly onPublisherReady = (): void => this.markUp('publisher');
  private readonly onPublisherClose = (): void => this.markDown('publisher');
  private readonly onPublisherError = (err: Error): void => this.logClientError('publisher', err);
  private readonly onSubscriberError = (err: Error): void => this.logClientError('subscriber', err);

  private readonly onSubscriberReady = (): void => {
    // ioredis resubscribes by itself (autoResubscribe); subscribing again is harmless, covers
    // autoResubscribe: false and a first connection, and says when the subscription is back.
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (this.hooks !== undefined) this.markUp('subscriber');
      },
      (err: unknown) => {
        this.log?.debug({ role: 'subscriber', detail: describe(err) }, 'adapter could not subscribe yet');
      },
    );
  };

  private readonly onSubscriberClose = (): void => {
    const wasUp = this.links.subscriber.up;
    this.markDown('subscriber');
    if (wasUp) {
      this.hooks?.error(
        new AdapterUnavailableError(
          this.name,
          `Lost the Redis subscription to "${this.channel}": broadcasts from other instances are missed until it is back.`,
        ),
      );
    }
  };

  private markUp(role: Role): void {
    const link = this.links[role];
    const log = this.log;
    if (link.up || log === undefined) return;
    if (link.wasEverUp) log.info({ role, downMs: Date.now() - link.downSince }, 'adapter recovered');
    else log.info({ role }, 'adapter connected');
    link.up = true;
    link.wasEverUp = true;
    if (this.bothUp()) {
      publishAdapter(true, { adapter: this, name: this.name, channel: this.channel, role });
      this.stopWaiting?.(true);
    }
  }

  private markDown(role: Role): void {
    const link = this.links[role];
    if (!link.up) return;
    const wasUp = this.bothUp();
    link.up = false;
    if (wasUp) {
      publishAdapter(false, { adapter: this, name: this.name, channel: this.channel, reason: 'lost', role });
    }
    link.downSince = Date.now();
    this.log?.warn({ role }, 'adapter connection lost');
  }

  private logClientError(role: Role, err: Error): void {
    // Each failed reconnect attempt lands here; loss and recovery are logged once each above.
    this.log?.debug({ role, detail: err.message }, 'redis client error');
  }
}

function checkClient(role: Role, client: unknown, methods: readonly string[]): void {
  const candidate = client as Record<string, unknown> | null;
  const valid =
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate['on'] === 'function' &&
    typeof candidate['off'] === 'function' &&
    methods.every((method) => typeof candidate[method] === 'function');
  if (!valid) {
    throw new TypeError(`The "${role}" option must be an ioredis client; got ${show(client)}.`);
  }
}

function claimChannel(subscriber: RedisSubscriber, channel: string): void {
  let users = channelUsers.get(subscriber);
  if (users === undefined) channelUsers.set(subscriber, (users = new Map<string, number>()));
  users.set(channel, (users.get(channel) ?? 0) + 1);
}

/** Returns true when the last adapter on this subscriber and channel lets go. */
function releaseChannel(subscriber: RedisSubscriber, channel: string): boolean {
  const users = channelUsers.get(subscriber);
  const count = users?.get(channel) ?? 0;
  if (users === undefined || count === 0) return false;
  if (count > 1) {
    users.set(channel, count - 1);
    return false;
  }
  users.delete(channel);
  return true;
}
