import type { Socket } from 'node:net';
import { checkIpcPath } from '../ipc-path';
import { halfOpenSocket } from '../socket-tuning';
import { STREAM_CLIENT_KEYS, StreamClient, type StreamClientOptions } from './stream-client';

export interface IpcClientOptions<Local = unknown, Remote = unknown> extends StreamClientOptions<
  Local,
  Remote
> {
  /**
   * The server's socket path or pipe name. A path longer than the system takes (107 bytes on
   * Linux, 103 on macOS and the BSDs, 108 for an abstract name) throws ERR_SOCKET_PATH_TOO_LONG:
   * the system would cut it and connect to whatever serves the shorter name.
   */
  path: string;
}

const IPC_CLIENT_KEYS: ReadonlySet<string> = new Set([...STREAM_CLIENT_KEYS, 'path']);

/** A client for a Unix domain socket or a Windows named pipe. */
export class IpcClient<Local = unknown, Remote = unknown> extends StreamClient<Local, Remote> {
  private readonly path: string;

  constructor(options: IpcClientOptions<Local, Remote>) {
    super(options, 'ipc-client', IPC_CLIENT_KEYS);
    if (typeof options.path !== 'string' || options.path === '') {
      throw new TypeError('The "path" option must be a non-empty string.');
    }
    checkIpcPath(options.path);
    this.path = options.path;
  }

  protected createSocket(): Socket {
    return halfOpenSocket().connect({ path: this.path });
  }

  protected readyEvent(): 'connect' {
    return 'connect';
  }

  protected describeTarget(): string {
    return this.path;
  }
}
