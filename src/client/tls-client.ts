import type { Socket } from 'node:net';
import { connect, createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { StreamClient } from './stream-client';
import { checkTcpTarget, type TcpClientOptions } from './tcp-client';

/** TcpClientOptions plus node:tls connect options (ca, servername, rejectUnauthorized, cert…). */
export type TlsClientOptions<Local = unknown, Remote = unknown> = TcpClientOptions<Local, Remote> &
  Omit<ConnectionOptions, 'port' | 'host' | 'socket' | 'path'>;

const OWN_OPTIONS = new Set([
  'framing',
  'maxMessageSize',
  'maxPendingBytes',
  'connectTimeout',
  'idleTimeout',
  'messageTimeout',
  'noDelay',
  'keepAlive',
  'reconnect',
  'queueWhileDisconnected',
  'logger',
  'port',
  'host',
  'family',
  'localAddress',
  'rpc',
]);

/** A TLS client; the connect timeout covers the handshake. */
export class TlsClient<Local = unknown, Remote = unknown> extends StreamClient<Local, Remote> {
  private readonly target: ReturnType<typeof checkTcpTarget>;
  private readonly tlsOptions: ConnectionOptions;

  constructor(options: TlsClientOptions<Local, Remote>) {
    super(options, 'tls-client');
    this.target = checkTcpTarget(options);
    const tls: ConnectionOptions & Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) if (!OWN_OPTIONS.has(key)) tls[key] = value;
    // Made once: a bad key, certificate or option is refused here rather than at connect(), and
    // reconnects do not parse the certificates again.
    tls.secureContext ??= secureContextOf(tls);
    this.tlsOptions = tls;
  }

  protected createSocket(): Socket {
    return connect({ ...this.tlsOptions, ...this.target });
  }

  protected readyEvent(): 'secureConnect' {
    return 'secureConnect';
  }

  protected describeTarget(): string {
    return `${this.target.host}:${this.target.port}`;
  }
}

/** The secure context of these options; invalid options are a TypeError (with Node's as cause). */
function secureContextOf(options: ConnectionOptions): SecureContext {
  try {
    return createSecureContext(options);
  } catch (err) {
    // By name: Node's errors may come from another realm (a vm context, a test runner).
    const { name, message } = (typeof err === 'object' && err !== null ? err : {}) as Partial<Error>;
    if (name === 'TypeError') throw err;
    const reason = typeof message === 'string' ? message : String(err);
    throw new TypeError(`Invalid TLS options: ${reason}`, { cause: err });
  }
}
