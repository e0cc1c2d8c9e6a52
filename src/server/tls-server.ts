import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import { SocketError } from '../errors';
import { FLOOD_LOG_INTERVAL_MS, LogThrottle } from '../logger';
import { checkOptionKeys, checkTime, TLS_COMMON_PASSTHROUGH_NAMES } from '../options';
import { STREAM_SERVER_KEYS, StreamServer, type StreamServerOptions } from './stream-server';
import { inetListen, shapeInetAddress, type TcpAddress, type TcpListenOptions } from './tcp-server';

/**
 * The node:tls server options TlsServer passes through: exactly those `tls.createServer()` reads
 * (its secure context options, the handshake and session settings, and the callbacks): those both
 * ends share, and the server's own.
 */
const PASSTHROUGH_NAMES = [
  ...TLS_COMMON_PASSTHROUGH_NAMES,
  'ALPNCallback',
  'SNICallback',
  'handshakeTimeout',
  'pskIdentityHint',
  'requestCert',
] as const;

type TlsPassthrough = (typeof PASSTHROUGH_NAMES)[number];

export const TLS_SERVER_PASSTHROUGH: ReadonlySet<string> = new Set<string>(PASSTHROUGH_NAMES);

/**
 * StreamServerOptions plus the node:tls server options in TLS_SERVER_PASSTHROUGH (key, cert, ca,
 * requestCert…). `handshakeTimeout` defaults to 10 s here (Node's own default is 120 s).
 */
export type TlsServerOptions<Local = unknown, Remote = unknown> = StreamServerOptions<Local, Remote> &
  Pick<TlsOptions, TlsPassthrough & keyof TlsOptions>;

const TLS_SERVER_KEYS: ReadonlySet<string> = new Set<string>([
  ...STREAM_SERVER_KEYS,
  ...TLS_SERVER_PASSTHROUGH,
]);

export const TLS_SERVER_DEFAULTS = Object.freeze({
  /**
   * Milliseconds a peer has to complete the TLS handshake after connecting. A socket still in its
   * handshake holds a `maxConnections` slot, so a peer that connects and never starts one is cut
   * off after this long, not Node's 120 s.
   */
  handshakeTimeout: 10_000,
});

function tlsOnly(options: object): TlsOptions {
  const tls: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (TLS_SERVER_PASSTHROUGH.has(key)) tls[key] = value;
  return tls;
}

/**
 * Throws unless the options let the server complete a handshake: a key and a certificate, a
 * pfx, an SNICallback that picks a context per name, or a pskCallback (pre-shared keys need no
 * certificate). Without one, Node listens and then fails every handshake.
 */
function checkCredentials(tls: Record<string, unknown>): void {
  // An empty string, buffer or array holds no credential: Node would ignore it and fail handshakes.
  const given = (name: string): boolean => {
    const value = tls[name];
    if (value === undefined || value === null) return false;
    if (typeof value === 'string' || ArrayBuffer.isView(value) || Array.isArray(value)) {
      return (typeof value === 'string' || Array.isArray(value) ? value.length : value.byteLength) > 0;
    }
    return true;
  };
  if (given('key') !== given('cert') && !given('pfx')) {
    throw new TypeError(
      `TlsServer needs both a key and a cert; got only ${given('key') ? 'a key' : 'a cert'}.`,
    );
  }
  if ((given('key') && given('cert')) || given('pfx')) return;
  if (typeof tls['SNICallback'] === 'function' || typeof tls['pskCallback'] === 'function') return;
  throw new TypeError(
    'TlsServer needs a key and a cert (or pfx, an SNICallback or a pskCallback) to complete a handshake.',
  );
}

/**
 * node:tls parses the key and certificates when the server is made; what it cannot parse (or a
 * key that is not the certificate's) is a programmer's mistake, thrown as a TypeError here.
 */
function secureServer(tls: TlsOptions): Server {
  let server: Server;
  try {
    server = createServer({ ...tls, allowHalfOpen: false });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new TypeError(`TlsServer: the TLS options do not make a secure context: ${detail}`, { cause: err });
  }
  checkKeyMatchesCert(tls);
  return server;
}

/**
 * node:tls does not check that a key belongs to the certificate: the server would listen and
 * fail every handshake. Checked for the common case of one PEM key and one certificate (chain).
 */
function checkKeyMatchesCert({ key, cert, passphrase }: TlsOptions): void {
  const single = (value: unknown): value is string | Buffer =>
    typeof value === 'string' || Buffer.isBuffer(value);
  if (!single(key) || !single(cert)) return;
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey({ key, passphrase }));
  } catch {
    return; // a format checked by node:tls already (DER, an engine key, ...): nothing more to say
  }
  if (!matches) {
    throw new TypeError(
      "TlsServer: the TLS options do not make a secure context: the key is not the certificate's.",
    );
  }
}

/** A TLS server; messages are framed inside the encrypted stream. */
export class TlsServer<Data = unknown, Local = unknown, Remote = unknown> extends StreamServer<
  TcpListenOptions,
  TcpAddress,
  Data,
  Local,
  Remote
> {
  /** Anyone can fail handshakes as fast as they can connect: one warn record per second at most. */
  private readonly handshakeLog = new LogThrottle<{ err: SocketError; remote: string | undefined }>(
    FLOOD_LOG_INTERVAL_MS,
    (count, { err, remote }, atOnce) => {
      if (atOnce) {
        this.log.warn({ code: err.code, detail: err.message, remote }, 'error');
      } else {
        this.log.warn(
          { code: err.code, detail: err.message, failed: count, failedTotal: this.handshakesFailed },
          'TLS handshakes failed',
        );
      }
    },
  );
  private handshakesFailed = 0;

  constructor(options: TlsServerOptions<Local, Remote>) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('TlsServer needs options with at least a key and a cert (or pfx).');
    }
    // Not half-open while handshaking: a peer that hangs up mid-handshake must free its socket at
    // once (and be reported), not linger until the handshake timeout. Accepted connections are
    // made half-open by StreamServer, so replies still reach peers that have ended their side.
    checkOptionKeys(new.target.name, options, TLS_SERVER_KEYS);
    const tls = tlsOnly(options);
    checkCredentials(tls as Record<string, unknown>);
    if (tls.handshakeTimeout === undefined) tls.handshakeTimeout = TLS_SERVER_DEFAULTS.handshakeTimeout;
    else checkTime('handshakeTimeout', tls.handshakeTimeout, 0);
    super(options, 'tls-server', secureServer(tls), TLS_SERVER_KEYS);
    // A failed handshake never becomes a connection; it is still reported. Node leaves the socket
    // open after some of these (a handshake timeout, for one): it is destroyed here.
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.log.debug({ remote: socket.remoteAddress }, 'TLS handshake failed');
      socket.destroy();
      const fault = new SocketError(err);
      this.handshakesFailed++;
      this.handshakeLog.note({ err: fault, remote: socket.remoteAddress });
      this.emitError(fault, undefined, true);
    });
  }

  /** Failed handshakes held back by the log's rate limit are logged before close() resolves. */
  protected override async shutdown(timeout: number, wasListening: boolean): Promise<void> {
    await super.shutdown(timeout, wasListening);
    this.handshakeLog.flush();
  }

  protected readyEvent(): 'secureConnection' {
    return 'secureConnection';
  }

  protected bind(options: TcpListenOptions = {}): Promise<void> {
    return this.listenNet(...inetListen(options));
  }

  protected shapeAddress(): TcpAddress {
    return shapeInetAddress(this.server);
  }
}
