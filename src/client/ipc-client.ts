import { connect, type Socket } from 'node:net';
import { checkIpcPath } from '../ipc-path';
import { StreamClient, type StreamClientOptions } from './stream-client';

export interface IpcClientOptions extends StreamClientOptions {
  /**
   * The server's socket path or pipe name. A path longer than the system takes (107 bytes on
   * Linux, 103 on macOS and the BSDs, 108 for an abstract name) throws ERR_SOCKET_PATH_TOO_LONG:
   * the system would cut it and connect to whatever serves the shorter name.
   */
  path: string;
}

/** A client for a Unix domain socket or a Windows named pipe. */
export class IpcClient extends StreamClient {
  private readonly path: string;

  constructor(options: IpcClientOptions) {
    super(options, 'ipc-client');
    if (typeof options.path !== 'string' || options.path === '') {
      throw new TypeError('The "path" option must be a non-empty string.');
    }
    checkIpcPath(options.path);
    this.path = options.path;
  }

  protected createSocket(): Socket {
    return connect({ path: this.path, allowHalfOpen: true });
  }

  protected readyEvent(): 'connect' {
    return 'connect';
  }

  protected describeTarget(): string {
    return this.path;
  }
}
