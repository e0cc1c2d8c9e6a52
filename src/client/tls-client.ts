import type { Socket } from 'node:net';
import {
  connect,
  createSecureContext,
  type ConnectionOptions,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { SocketError, TlsVerificationError } from '../errors';
import { TLS_COMMON_PASSTHROUGH_NAMES } from '../options';
import { StreamClient } from './stream-client';
import { checkTcpTarget, TCP_CLIENT_KEYS, type TcpClientOptions } from './tcp-client';

/**
 * The node:tls options TlsClient passes through: those both ends share, those only `tls.connect()`
 * reads for TLS (beside the socket options sockframe sets itself), and `allowPartialTrustChain`
 * of `tls.createSecureContext()`.
 */
const PASSTHROUGH_NAMES = [
  ...TLS_COMMON_PASSTHROUGH_NAMES,
  'checkServerIdentity',
  'minDHSize',
  'requestOCSP',
  'secureContext',
  'servername',
  'session',
  'allowPartialTrustChain',
] as const;

type TlsPassthrough = (typeof PASSTHROUGH_NAMES)[number];

export const TLS_CLIENT_PASSTHROUGH: ReadonlySet<string> = new Set<string>(PASSTHROUGH_NAMES);

/** TcpClientOptions plus the node:tls options in TLS_CLIENT_PASSTHROUGH (ca, servername, rejectUnauthorized, cert…). */
export type TlsClientOptions<Local = unknown, Remote = unknown> = TcpClientOptions<Local, Remote> &
  Pick<ConnectionOptions, TlsPassthrough & keyof ConnectionOptions>;

const TLS_CLIENT_KEYS: ReadonlySet<string> = new Set<string>([...TCP_CLIENT_KEYS, ...TLS_CLIENT_PASSTHROUGH]);

/** A TLS client; the connect timeout covers the handshake. */
export class TlsClient<Local = unknown, Remote = unknown> extends StreamClient<Local, Remote> {
  private readonly target: ReturnType<typeof checkTcpTarget>;
  private readonly tlsOptions: ConnectionOptions;

  constructor(options: TlsClientOptions<Local, Remote>) {
    super(options, 'tls-client', TLS_CLIENT_KEYS);
    this.target = checkTcpTarget(options);
    const tls: ConnectionOptions & Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) if (TLS_CLIENT_PASSTHROUGH.has(key)) tls[key] = value;
    // Made once: a bad key, certificate or option is refused here rather than at connect(), and
    // reconnects do not parse the certificates again.
    tls.secureContext ??= secureContextOf(tls);
    this.tlsOptions = tls;
  }

  protected createSocket(): Socket {
    return connect({ ...this.tlsOptions, ...this.target, allowHalfOpen: true } as ConnectionOptions);
  }

  /**
   * A refused certificate is not a network fault: retrying gets the same certificate. Node sets
   * `authorizationError` just before it destroys a socket whose certificate it refused.
   */
  protected override connectError(err: Error, socket: Socket): SocketError | TlsVerificationError {
    const refusal = (socket as TLSSocket).authorizationError as Error | string | null | undefined;
    if (refusal === null || refusal === undefined) return new SocketError(err);
    const code = typeof refusal === 'string' ? refusal : refusal.message;
    return new TlsVerificationError(code, this.describeTarget(), err);
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
