import type { Logger } from 'pino';
import type { Connection, ConnectionHandlers } from '../connection';
import { describe, HandshakeRefusedError, HandshakeTimeoutError, type SockframeError } from '../errors';
import { FLOOD_LOG_INTERVAL_MS, LogThrottle } from '../logger';
import { checkTime, show } from '../options';
import { RpcPeer, type HandshakeCall, type RpcEndpoint } from './peer';

export type { HandshakeCall } from './peer';

/**
 * A server's connect-time check: resolves to the connection's `data`, or throws to refuse it.
 * With `rpc`, `call` is the connection's first call; without, it is undefined.
 */
export type ServerHandshake = (conn: HandshakeConnection, call: HandshakeCall | undefined) => unknown;

/** What a handshake sees of the new connection. */
export type HandshakeConnection = Pick<
  Connection,
  'id' | 'remoteAddress' | 'remotePort' | 'remoteFamily' | 'localAddress' | 'localPort' | 'stats'
>;

/** How long a handshake may take unless given. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Messages a connection may send before its handshake is done; more refuse it. */
const MAX_HELD_MESSAGES = 64;

interface Entry {
  state: 'pending' | 'refused';
  timer: NodeJS.Timeout | undefined;
  held: Buffer[];
}

interface Refusal {
  readonly remote: string | undefined;
  readonly reason: SockframeError;
}

/** Runs a server's handshake for each new connection; counts and logs the refusals. */
export class HandshakeRunner<Data, Remote> {
  readonly hook: ServerHandshake;
  readonly timeout: number;
  refused = 0;
  private readonly entries = new Map<Connection<Data, Remote>, Entry>();
  private readonly log: LogThrottle<Refusal>;
  private held: ConnectionHandlers<Data, Remote> | undefined;

  constructor(hook: ServerHandshake, timeout: number, log: Logger) {
    this.hook = hook;
    this.timeout = timeout;
    this.log = new LogThrottle<Refusal>(FLOOD_LOG_INTERVAL_MS, (count, latest, atOnce) =>
      log.warn(
        {
          code: latest.reason.code,
          detail: latest.reason.message,
          ...(atOnce ? { remote: latest.remote } : {}),
          refused: count,
          refusedTotal: this.refused,
        },
        'handshake refused',
      ),
    );
  }

  /** The server's handlers, holding the messages of connections whose handshake is not done. */
  heldHandlers(base: ConnectionHandlers<Data, Remote>): ConnectionHandlers<Data, Remote> {
    return (this.held ??= {
      ...base,
      message: (message, conn) => {
        const entry = this.entries.get(conn);
        if (entry === undefined) {
          base.message(message, conn);
        } else if (entry.state === 'pending') {
          if (entry.held.length >= MAX_HELD_MESSAGES) {
            this.refuse(
              conn,
              new HandshakeRefusedError(
                `More than ${MAX_HELD_MESSAGES} messages before the handshake completed`,
              ),
            );
          } else {
            entry.held.push(message);
          }
        }
      },
    });
  }

  /** Starts the handshake of a new connection; `admit` registers it and emits 'connect'. */
  begin(conn: Connection<Data, Remote>, rpc: RpcEndpoint | undefined, admit: () => void): void {
    const entry: Entry = { state: 'pending', timer: undefined, held: [] };
    this.entries.set(conn, entry);
    entry.timer = setTimeout(() => this.refuse(conn, new HandshakeTimeoutError(this.timeout)), this.timeout);
    entry.timer.unref();
    conn.once('close', () => {
      clearTimeout(entry.timer);
      if (this.entries.get(conn) === entry) this.entries.delete(conn);
    });
    if (rpc === undefined) {
      this.run(conn, undefined, admit).then(undefined, () => {});
      return;
    }
    const peer = new RpcPeer(rpc, conn, (_conn, call) => this.run(conn, call, admit));
    conn.rpcPeer = peer;
  }

  private run(
    conn: Connection<Data, Remote>,
    call: HandshakeCall | undefined,
    admit: () => void,
  ): Promise<void> {
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(this.hook(conn, call));
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what the caller threw, as it is
      outcome = Promise.reject(err);
    }
    return outcome.then(
      (data) => {
        const entry = this.entries.get(conn);
        if (entry?.state !== 'pending' || !conn.isOpen)
          throw new HandshakeRefusedError('The handshake ended');
        clearTimeout(entry.timer);
        this.entries.delete(conn);
        conn.data = data as Data;
        admit();
        for (const message of entry.held) {
          if (!conn.isOpen) break;
          (this.held as ConnectionHandlers<Data, Remote>).message(message, conn);
        }
      },
      (err: unknown) => {
        const reason =
          err instanceof HandshakeRefusedError
            ? err
            : new HandshakeRefusedError(`Handshake refused: ${describe(err)}`, err);
        // With rpc the refusal is answered first: the close waits for that answer to be queued.
        setImmediate(() => this.refuse(conn, reason));
        throw err;
      },
    );
  }

  /** Refuses a connection once: counted, logged at a limited rate, closed. */
  refuse(conn: Connection<Data, Remote>, reason: SockframeError): void {
    const entry = this.entries.get(conn);
    if (entry === undefined || entry.state === 'refused') return;
    entry.state = 'refused';
    clearTimeout(entry.timer);
    entry.held = [];
    this.refused++;
    this.log.note({ remote: conn.remoteAddress, reason });
    void conn.close({ timeout: 1_000 });
  }

  /** The server is closing: every connection still in its handshake is destroyed. */
  abandonAll(): void {
    for (const [conn, entry] of this.entries) {
      clearTimeout(entry.timer);
      conn.destroy();
    }
    this.log.flush();
  }
}

/** Validates the handshake options; undefined without a handshake. */
export function checkHandshake<Data, Remote>(
  hook: unknown,
  timeout: unknown,
  log: Logger,
): HandshakeRunner<Data, Remote> | undefined {
  const ms = checkTime('acceptTimeout', timeout, DEFAULT_HANDSHAKE_TIMEOUT);
  if (hook === undefined) return undefined;
  if (typeof hook !== 'function') {
    throw new TypeError(`The "handshake" option must be a function; got ${show(hook)}.`);
  }
  return new HandshakeRunner<Data, Remote>(hook as ServerHandshake, ms === 0 ? 2 ** 31 - 1 : ms, log);
}

export function attachHandshake<Data, Remote>(
  runner: HandshakeRunner<Data, Remote>,
  conn: Connection<Data, Remote>,
  rpc: RpcEndpoint | undefined,
  admit: () => void,
): void {
  runner.begin(conn, rpc, admit);
}
