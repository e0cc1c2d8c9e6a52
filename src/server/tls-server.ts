import { createServer, type TlsOptions } from 'node:tls';
import { SocketError } from '../errors';
import { StreamServer, type StreamServerOptions } from './stream-server';
import { shapeInetAddress, type TcpAddress, type TcpListenOptions } from './tcp-server';

/** StreamServerOptions plus node:tls server options (key, cert, ca, requestCert…), passed through. */
export type TlsServerOptions = StreamServerOptions & Omit<TlsOptions, 'allowHalfOpen'>;

const OWN_OPTIONS = new Set([
  'framing',
  'maxMessageSize',
  'maxPendingBytes',
  'maxConnections',
  'idleTimeout',
  'messageTimeout',
  'noDelay',
  'keepAlive',
  'logger',
]);

function tlsOnly(options: TlsServerOptions): TlsOptions {
  const tls: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!OWN_OPTIONS.has(key)) tls[key] = value;
  return tls;
}

/** A TLS server; messages are framed inside the encrypted stream. */
export class TlsServer<Data = unknown> extends StreamServer<TcpListenOptions, TcpAddress, Data> {
  constructor(options: TlsServerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('TlsServer needs options with at least a key and a cert (or pfx).');
    }
    // Not half-open while handshaking: a peer that hangs up mid-handshake must free its socket at
    // once (and be reported), not linger until the handshake timeout. Accepted connections are
    // made half-open by StreamServer, so replies still reach peers that have ended their side.
    super(options, 'tls-server', createServer({ ...tlsOnly(options), allowHalfOpen: false }));
    // A failed handshake never becomes a connection; it is still reported.
    this.server.on('tlsClientError', (err: Error, socket: { remoteAddress?: string }) => {
      this.log.debug({ remote: socket.remoteAddress }, 'TLS handshake failed');
      this.reportError(new SocketError(err), undefined, true);
    });
  }

  protected readyEvent(): 'secureConnection' {
    return 'secureConnection';
  }

  protected bind(options: TcpListenOptions = {}): Promise<void> {
    const { port = 0, host, backlog, ipv6Only } = options;
    return this.listenNet({ port, host, backlog, ipv6Only }, `${host ?? '*'}:${port}`);
  }

  protected shapeAddress(): TcpAddress {
    return shapeInetAddress(this.server);
  }
}
