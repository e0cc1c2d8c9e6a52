import type { Socket } from 'node:net';
import { optionKeys } from '../options';
import { halfOpenSocket } from '../socket-tuning';
import { STREAM_CLIENT_KEYS, StreamClient, type StreamClientOptions } from './stream-client';

export interface TcpClientOptions<Local = unknown, Remote = unknown> extends StreamClientOptions<
  Local,
  Remote
> {
  port: number;
  /** @default 'localhost' */
  host?: string;
  /** 4 or 6 to force an address family. */
  family?: 4 | 6;
  localAddress?: string;
}

/** The names of TcpClientOptions, for the unknown-key check. */
export const TCP_CLIENT_KEYS: ReadonlySet<string> = new Set([
  ...STREAM_CLIENT_KEYS,
  ...optionKeys<Omit<TcpClientOptions, keyof StreamClientOptions>>()(
    'port',
    'host',
    'family',
    'localAddress',
  ),
]);

/** A TCP client. */
export class TcpClient<Local = unknown, Remote = unknown> extends StreamClient<Local, Remote> {
  private readonly target: { port: number; host: string; family?: 4 | 6; localAddress?: string };

  constructor(options: TcpClientOptions<Local, Remote>) {
    super(options, 'tcp-client', TCP_CLIENT_KEYS);
    this.target = checkTcpTarget(options);
  }

  protected createSocket(): Socket {
    return halfOpenSocket().connect(this.target);
  }

  protected readyEvent(): 'connect' {
    return 'connect';
  }

  protected describeTarget(): string {
    return `${this.target.host}:${this.target.port}`;
  }
}

export function checkTcpTarget(options: TcpClientOptions<unknown, unknown>): {
  port: number;
  host: string;
  family?: 4 | 6;
  localAddress?: string;
} {
  const { port, host = 'localhost', family, localAddress } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`The "port" option must be an integer from 1 to 65535; got ${String(port)}.`);
  }
  if (typeof host !== 'string' || host === '')
    throw new TypeError('The "host" option must be a non-empty string.');
  const target: { port: number; host: string; family?: 4 | 6; localAddress?: string } = { port, host };
  if (family !== undefined) target.family = family;
  if (localAddress !== undefined) target.localAddress = localAddress;
  return target;
}
