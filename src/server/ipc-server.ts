import { chmodSync, linkSync, lstatSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { AddressInUseError, asSockframeError, ServerClosedError, SocketError } from '../errors';
import {
  checkIpcPath,
  checkPrivatePath,
  identityOf,
  isSocketFilePath,
  makePrivateDir,
  removeIfSame,
  removePrivateDir,
  unlinkIfOurs,
  type FileIdentity,
} from '../ipc-path';
import { show } from '../options';
import { StreamServer, type StreamServerOptions } from './stream-server';

export { isSocketFilePath };

export type IpcServerOptions<Local = unknown, Remote = unknown> = StreamServerOptions<Local, Remote>;

export interface IpcListenOptions {
  /**
   * A Unix domain socket path; on Linux a name starting with '\0' is an abstract socket (no
   * file); on Windows a named pipe such as '\\\\.\\pipe\\name'. A socket file path may have at
   * most 107 bytes on Linux and 103 on macOS and the BSDs, an abstract name 108 (its NUL
   * included); a longer one is refused with ERR_SOCKET_PATH_TOO_LONG.
   */
  path: string;
  backlog?: number;
  /**
   * Permissions of the socket file, such as 0o600 (Unix socket files only), in force before the
   * first connection can be accepted.
   * @default the process umask applied to 0o777
   */
  mode?: number;
}

export interface IpcAddress {
  path: string;
}

/** Times a listen() goes round "the path is taken by a stale file, remove it, try again". */
const CLAIM_ATTEMPTS = 5;

/**
 * A server on a Unix domain socket or a Windows named pipe.
 *
 * A socket file is bound in a private directory next to its path (mode 0700), given its `mode`
 * there, and then linked into place, which fails if anything is at the path: so the file never
 * exists with the wrong permissions, and a live server's file is never replaced. A socket file
 * left by a crashed process (connecting to it is refused) is removed, only if it is still that
 * file; a live one, or any other file, gives ERR_ADDRESS_IN_USE. On close the file is removed if
 * the path still refers to this server's socket.
 */
export class IpcServer<Data = unknown, Local = unknown, Remote = unknown> extends StreamServer<
  IpcListenOptions,
  IpcAddress,
  Data,
  Local,
  Remote
> {
  private path: string | undefined;
  /** The socket file this server bound, so that close() removes that one and no other. */
  private identity: FileIdentity | undefined;
  /** Where that file is, resolved at listen(): a relative path must not follow a later chdir(). */
  private filePath: string | undefined;

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
    checkIpcPath(path);
    if (!isSocketFilePath(path)) {
      await this.listenNet({ path, backlog }, path);
      this.path = path;
      return;
    }
    checkPrivatePath(path);
    const filePath = resolvePath(path);
    let privateDir: { dir: string; socketPath: string };
    try {
      privateDir = makePrivateDir(path);
    } catch (err) {
      throw new SocketError(err);
    }
    const { dir, socketPath } = privateDir;
    try {
      await this.listenNet({ path: socketPath, backlog }, path);
      try {
        const identity = identityOf(lstatSync(socketPath));
        if (mode !== undefined) chmodSync(socketPath, mode);
        await this.claim(path, socketPath, dir);
        this.path = path;
        this.identity = identity;
        this.filePath = filePath;
      } catch (err) {
        if (this.server.listening) await new Promise((resolve) => this.server.close(resolve));
        throw err;
      }
    } catch (err) {
      throw asSockframeError(err);
    } finally {
      removePrivateDir(dir);
    }
  }

  /**
   * Links the bound socket at `path`. link() fails when anything is there, so a file that appears
   * meanwhile is never replaced; a stale socket file is removed only while it is the very file
   * that was found stale.
   */
  private async claim(path: string, socketPath: string, dir: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // close() while a stale file was probed: the socket is closed, do not put it in place.
      if (!this.server.listening) {
        throw new ServerClosedError('The server was closed before it started listening.');
      }
      try {
        linkSync(socketPath, path);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let found;
      try {
        found = lstatSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (!found.isSocket() || attempt >= CLAIM_ATTEMPTS || (await probe(path)) === 'live') {
        throw new AddressInUseError(path);
      }
      if (removeIfSame(path, identityOf(found), dir)) {
        this.log.info({ path }, 'replacing a stale socket file');
      }
    }
  }

  protected shapeAddress(): IpcAddress {
    return { path: this.path as string };
  }

  protected override afterClose(): void {
    const { filePath, identity } = this;
    if (filePath !== undefined && identity !== undefined) unlinkIfOurs(filePath, identity);
  }
}

/**
 * Whether someone accepts on a socket file: a refused connection means nobody (stale); a file gone
 * meanwhile is looked at again; anything else (no permission, say) cannot be told from live.
 */
function probe(path: string): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : err.code === 'ENOENT' ? 'gone' : 'live');
    });
  });
}
