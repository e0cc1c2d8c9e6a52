import type { Socket } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { StreamClient } from './stream-client';
import { checkTcpTarget, type TcpClientOptions } from './tcp-client';

/** TcpClientOptions plus node:tls connect options (ca, servername, rejectUnauthorized, cert…). */
export type TlsClientOptions = TcpClientOptions &
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
]);

/** A TLS client; the connect timeout covers the handshake. */
export class TlsClient extends StreamClient {
  private readonly target: ReturnType<typeof checkTcpTarget>;
  private readonly tlsOptions: ConnectionOptions;

  constructor(options: TlsClientOptions) {
    super(options, 'tls-client');
    this.target = checkTcpTarget(options);
    const tls: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) if (!OWN_OPTIONS.has(key)) tls[key] = value;
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
