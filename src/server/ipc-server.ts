import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { AddressInUseError } from '../errors';
import { show } from '../options';
import { StreamServer, type StreamServerOptions } from './stream-server';

export type IpcServerOptions<Local = unknown, Remote = unknown> = StreamServerOptions<Local, Remote>;

export interface IpcListenOptions {
  /**
   * A Unix domain socket path; on Linux a name starting with '\0' is an abstract socket (no
   * file); on Windows a named pipe such as '\\\\.\\pipe\\name'.
   */
  path: string;
  backlog?: number;
  /** Permissions of the socket file, such as 0o600 (Unix socket files only). */
  mode?: number;
}

export interface IpcAddress {
  path: string;
}

/** Whether `path` names a file on disk (not a Windows pipe, not a Linux abstract socket). */
export function isSocketFilePath(path: string): boolean {
  return !path.startsWith('\0') && !/^[\\/]{2}[.?][\\/]pipe[\\/]/i.test(path);
}

/**
 * A server on a Unix domain socket or a Windows named pipe. A socket file left by a crashed
 * process (nobody accepts on it) is replaced; a live one gives ERR_ADDRESS_IN_USE. The file is
 * removed on close.
 */
export class IpcServer<Data = unknown, Local = unknown, Remote = unknown> extends StreamServer<
  IpcListenOptions,
  IpcAddress,
  Data,
  Local,
  Remote
> {
  private path: string | undefined;

  constructor(options: IpcServerOptions<Local, Remote> = {}) {
    super(options, 'ipc-server', createServer({ allowHalfOpen: true }));
  }

  protected readyEvent(): 'connection' {
    return 'connection';
  }

  protected async bind(options: IpcListenOptions): Promise<void> {
    if (
      typeof options !== 'object' ||
      options === null ||
      typeof options.path !== 'string' ||
      options.path === ''
    ) {
      throw new TypeError('IpcServer.listen() needs { path }, a socket path or pipe name.');
    }
    const { path, backlog, mode } = options;
    if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) {
      throw new TypeError(
        `The "mode" option must be an integer from 0 to 0o777, such as 0o600; got ${show(mode)}.`,
      );
    }
    try {
      await this.listenNet({ path, backlog }, path);
    } catch (err) {
      if (!(err instanceof AddressInUseError) || !isSocketFilePath(path) || !(await isStaleSocket(path)))
        throw err;
      this.log.info({ path }, 'replacing a stale socket file');
      unlinkSync(path);
      await this.listenNet({ path, backlog }, path);
    }
    this.path = path;
    if (mode !== undefined && isSocketFilePath(path)) chmodSync(path, mode);
  }

  protected shapeAddress(): IpcAddress {
    return { path: this.path as string };
  }

  protected override afterClose(): void {
    const path = this.path;
    if (path === undefined || !isSocketFilePath(path)) return;
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch {
      // Already gone: libuv removes it on close.
    }
  }
}

/** A socket file nobody accepts on: connecting to it is refused. Regular files are never stale. */
function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      probe.destroy();
      resolve(err.code === 'ECONNREFUSED');
    });
  });
}
