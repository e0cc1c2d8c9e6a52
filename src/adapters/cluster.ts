import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AdapterUnavailableError } from '../errors';
import { publishAdapter } from '../diagnostics';
import { componentLogger, type LoggerOption } from '../logger';
import { checkString, checkTime, show } from '../options';
import type { AdapterHooks, ServerAdapter } from './adapter';

/** Options of a NodeClusterAdapter; all are optional. */
export interface NodeClusterAdapterOptions {
  /**
   * Broadcasts are shared between the adapters of one channel only, so that several services in
   * one cluster stay apart.
   * @default 'sockframe'
   */
  channel?: string;
  /**
   * Milliseconds attach() (and so listen()) waits for the primary's relay to answer before it
   * fails with ERR_ADAPTER_UNAVAILABLE: a primary without NodeClusterAdapter.setupPrimary() would
   * otherwise drop every broadcast without a word.
   * @default 5000
   */
  attachTimeout?: number;
}

/** Options of NodeClusterAdapter.setupPrimary(). */
export interface ClusterRelayOptions {
  /** A pino logger; the relay logs on `child({ component: 'cluster-relay' })`. @default silent */
  logger?: LoggerOption;
}

/** The relay of the cluster primary; close() stops it. */
export interface ClusterRelay {
  /** Broadcasts passed on to other workers so far (one per broadcast, however many workers). */
  readonly relayed: number;
  close(): void;
}

export const CLUSTER_ADAPTER_DEFAULTS = Object.freeze({
  channel: 'sockframe',
  attachTimeout: 5_000,
});

/**
 * The IPC messages, tagged so that they never mix with the application's own. Payloads travel as
 * base64: binary-safe under both of the cluster's serializations ('json', the default, and
 * 'advanced').
 */
interface BroadcastMessage {
  readonly sockframe: 'broadcast';
  readonly channel: string;
  readonly data: string;
}
interface HelloMessage {
  readonly sockframe: 'hello' | 'welcome';
  readonly id: string;
}

function isMessage(value: unknown): value is { sockframe: unknown } {
  return typeof value === 'object' && value !== null && 'sockframe' in value;
}

function isBroadcast(value: unknown): value is BroadcastMessage {
  return (
    isMessage(value) &&
    value.sockframe === 'broadcast' &&
    typeof (value as Partial<BroadcastMessage>).channel === 'string' &&
    typeof (value as Partial<BroadcastMessage>).data === 'string'
  );
}

function isHello(value: unknown, kind: HelloMessage['sockframe']): value is HelloMessage {
  return (
    isMessage(value) && value.sockframe === kind && typeof (value as Partial<HelloMessage>).id === 'string'
  );
}

// --------------------------------------------------------------------------- worker side

/** The attached adapters of this worker by channel: one 'message' listener serves them all. */
const attachedHere = new Map<string, Set<NodeClusterAdapter>>();

function onWorkerMessage(message: unknown): void {
  if (!isBroadcast(message)) return;
  const adapters = attachedHere.get(message.channel);
  if (adapters === undefined) return;
  const payload = Buffer.from(message.data, 'base64');
  for (const adapter of adapters) adapter.deliver(payload);
}

function register(adapter: NodeClusterAdapter, channel: string): void {
  if (attachedHere.size === 0) process.on('message', onWorkerMessage);
  let adapters = attachedHere.get(channel);
  if (adapters === undefined) attachedHere.set(channel, (adapters = new Set()));
  adapters.add(adapter);
}

function unregister(adapter: NodeClusterAdapter, channel: string): void {
  const adapters = attachedHere.get(channel);
  if (adapters === undefined || !adapters.delete(adapter)) return;
  if (adapters.size === 0) attachedHere.delete(channel);
  // Without a listener the IPC channel no longer holds the worker open.
  if (attachedHere.size === 0) process.off('message', onWorkerMessage);
}

/**
 * Shares broadcasts between the servers of the workers of one `node:cluster` primary, through the
 * primary: each broadcast goes to the primary once, and the primary passes it to every other
 * worker. Servers of one worker on the same channel share theirs directly.
 *
 * ```ts
 * if (cluster.isPrimary) {
 *   NodeClusterAdapter.setupPrimary();
 *   for (let i = 0; i < workers; i++) cluster.fork();
 * } else {
 *   const server = new TcpServer({ adapter: new NodeClusterAdapter() });
 *   await server.listen({ port: 7000 });   // the workers share the port
 * }
 * ```
 */
export class NodeClusterAdapter implements ServerAdapter {
  readonly name = 'cluster';
  readonly channel: string;
  private readonly attachTimeout: number;
  private hooks: AdapterHooks | undefined;
  private readonly onDisconnect = (): void => this.lost();
  /** Attached, and the primary still there (for `sockframe:adapter:up` / `down`). */
  private up = false;

  constructor(options: NodeClusterAdapterOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`NodeClusterAdapter options must be an object; got ${show(options)}.`);
    }
    const channel = checkString('channel', options.channel, CLUSTER_ADAPTER_DEFAULTS.channel);
    this.channel = channel;
    this.attachTimeout = checkTime(
      'attachTimeout',
      options.attachTimeout,
      CLUSTER_ADAPTER_DEFAULTS.attachTimeout,
    );
  }

  /**
   * Starts the relay in the cluster primary: each broadcast a worker publishes is passed on to
   * every other connected worker. Call it before forking; calling it again returns the same relay.
   */
  static setupPrimary(options: ClusterRelayOptions = {}): ClusterRelay {
    if (!cluster.isPrimary) {
      throw new TypeError('NodeClusterAdapter.setupPrimary() runs in the cluster primary, not in a worker.');
    }
    return (primaryRelay ??= startRelay(componentLogger(options.logger, 'cluster-relay')));
  }

  async attach(hooks: AdapterHooks): Promise<void> {
    if (!cluster.isWorker || typeof process.send !== 'function') {
      throw new TypeError(
        'NodeClusterAdapter runs in a node:cluster worker: call NodeClusterAdapter.setupPrimary() in the primary and listen in the workers it forks.',
      );
    }
    if (this.hooks !== undefined) {
      throw new TypeError('This NodeClusterAdapter is attached to a server already; create one per server.');
    }
    await this.greetPrimary();
    this.hooks = hooks;
    register(this, this.channel);
    process.once('disconnect', this.onDisconnect);
    hooks.log.info({ channel: this.channel, workerId: cluster.worker?.id }, 'adapter connected');
    this.up = true;
    publishAdapter(true, { adapter: this, name: this.name, channel: this.channel });
  }

  publish(payload: Buffer): void {
    const hooks = this.hooks;
    if (hooks === undefined)
      throw new AdapterUnavailableError(this.name, 'The cluster adapter is not attached.');
    const siblings = attachedHere.get(this.channel);
    if (siblings !== undefined && siblings.size > 1) {
      for (const adapter of siblings) if (adapter !== this) adapter.deliver(payload);
    }
    if (!process.connected || typeof process.send !== 'function') {
      throw new AdapterUnavailableError(
        this.name,
        'The cluster primary is gone: the broadcast reached this worker only.',
      );
    }
    const message: BroadcastMessage = {
      sockframe: 'broadcast',
      channel: this.channel,
      data: payload.toString('base64'),
    };
    process.send(message, undefined, undefined, (err: Error | null) => {
      if (err !== null) {
        hooks.error(
          new AdapterUnavailableError(
            this.name,
            `The broadcast could not be sent to the cluster primary: ${err.message}`,
            err,
          ),
        );
      }
    });
  }

  close(): void {
    if (this.hooks === undefined) return;
    unregister(this, this.channel);
    process.off('disconnect', this.onDisconnect);
    this.hooks = undefined;
    this.markDown('closed');
  }

  private markDown(reason: 'lost' | 'closed'): void {
    if (!this.up) return;
    this.up = false;
    publishAdapter(false, { adapter: this, name: this.name, channel: this.channel, reason });
  }

  /** @internal A broadcast from another worker or from a server of this one. */
  deliver(payload: Buffer): void {
    this.hooks?.deliver(payload);
  }

  /** Waits for the primary's relay to answer, so that a missing relay fails listen() loudly. */
  private greetPrimary(): Promise<void> {
    const id = randomBytes(8).toString('hex');
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        process.off('message', onMessage);
        process.off('disconnect', onGone);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onMessage = (message: unknown): void => {
        if (isHello(message, 'welcome') && message.id === id) settle();
      };
      const onGone = (): void =>
        settle(new AdapterUnavailableError(this.name, 'The cluster primary disconnected.'));
      const timer = setTimeout(
        () =>
          settle(
            new AdapterUnavailableError(
              this.name,
              `The cluster primary did not answer within ${this.attachTimeout} ms: call NodeClusterAdapter.setupPrimary() in the primary before forking.`,
            ),
          ),
        this.attachTimeout,
      );
      process.on('message', onMessage);
      process.once('disconnect', onGone);
      const hello: HelloMessage = { sockframe: 'hello', id };
      (process.send as NonNullable<typeof process.send>)(hello, undefined, undefined, (err: Error | null) => {
        if (err !== null) settle(new AdapterUnavailableError(this.name, err.message, err));
      });
    });
  }

  private lost(): void {
    const hooks = this.hooks;
    if (hooks === undefined) return;
    hooks.log.warn({ channel: this.channel }, 'adapter connection lost');
    this.markDown('lost');
    hooks.error(
      new AdapterUnavailableError(
        this.name,
        'The cluster primary disconnected: broadcasts no longer reach the other workers.',
      ),
    );
  }
}

// --------------------------------------------------------------------------- primary side

let primaryRelay: ClusterRelay | undefined;

function startRelay(log: ReturnType<typeof componentLogger>): ClusterRelay {
  let relayed = 0;
  // A worker that exits between the check and the send reports it here, not as an uncaught error.
  const ignoreGone = (): void => {};
  const onMessage = (from: Worker, message: unknown): void => {
    if (isHello(message, 'hello')) {
      if (from.isConnected()) from.send({ sockframe: 'welcome', id: message.id }, ignoreGone);
      return;
    }
    if (!isBroadcast(message)) return;
    relayed++;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker === undefined || worker === from || !worker.isConnected()) continue;
      worker.send(message, ignoreGone);
    }
  };
  cluster.on('message', onMessage);
  log.info('cluster relay started');
  return {
    get relayed() {
      return relayed;
    },
    close() {
      if (primaryRelay === undefined) return;
      cluster.off('message', onMessage);
      primaryRelay = undefined;
      log.info({ relayed }, 'cluster relay stopped');
    },
  };
}
