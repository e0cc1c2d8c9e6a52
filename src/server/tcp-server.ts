import { createServer, type Server } from 'node:net';
import { StreamServer, type StreamServerOptions } from './stream-server';

export type TcpServerOptions<Local = unknown, Remote = unknown> = StreamServerOptions<Local, Remote>;

export interface TcpListenOptions {
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default all interfaces */
  host?: string;
  backlog?: number;
  /** With host '::', accept IPv6 only. @default false */
  ipv6Only?: boolean;
}

export interface TcpAddress {
  address: string;
  port: number;
  family: string;
}

/** A TCP server. */
export class TcpServer<Data = unknown, Local = unknown, Remote = unknown> extends StreamServer<
  TcpListenOptions,
  TcpAddress,
  Data,
  Local,
  Remote
> {
  constructor(options: TcpServerOptions<Local, Remote> = {}) {
    super(options, 'tcp-server', createServer({ allowHalfOpen: true }));
  }

  protected readyEvent(): 'connection' {
    return 'connection';
  }

  protected bind(options: TcpListenOptions = {}): Promise<void> {
    return this.listenNet(...inetListen(options));
  }

  protected shapeAddress(): TcpAddress {
    return shapeInetAddress(this.server);
  }
}

/** What net.Server.listen() takes for a TCP or TLS server, and the address as errors name it. */
export function inetListen(options: TcpListenOptions = {}): [options: object, describe: string] {
  const { port = 0, host, backlog, ipv6Only } = options;
  return [{ port, host, backlog, ipv6Only }, `${host ?? '*'}:${port}`];
}

export function shapeInetAddress(server: Server): TcpAddress {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Server has no network address.');
  return { address: address.address, port: address.port, family: address.family };
}
