import { linkSync, lstatSync, mkdtempSync, renameSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { SocketPathTooLongError } from './errors';

/**
 * The most bytes of a socket file path: `sun_path` holds 108 bytes on Linux and 104 on macOS and
 * the BSDs, the terminating NUL included. Longer paths are cut by the system without a word.
 */
export const SOCKET_PATH_LIMIT = /^(darwin|freebsd|openbsd|netbsd)$/.test(process.platform) ? 103 : 107;

/** A Linux abstract name has no terminating NUL: all 108 bytes, its leading NUL included. */
export const ABSTRACT_NAME_LIMIT = 108;

/** The private directory a server binds in before the socket takes its place: `<dir>/.sfXXXXXX`. */
const PRIVATE_PREFIX = '.sf';
/** The socket's name inside it. */
const PRIVATE_NAME = 's';
/** How many bytes `/.sfXXXXXX/s` adds to the target's directory. */
const PRIVATE_EXTRA = 1 + PRIVATE_PREFIX.length + 6 + 1 + PRIVATE_NAME.length;

/** Whether `path` names a file on disk (not a Windows pipe, not a Linux abstract socket). */
export function isSocketFilePath(path: string): boolean {
  return process.platform !== 'win32' && !path.startsWith('\0') && !/^[\\/]{2}[.?][\\/]pipe[\\/]/i.test(path);
}

/**
 * Refuses a path the system would not bind or connect to as given: a NUL inside a file path (the
 * system would stop at it) is a TypeError, a path past the limit a SocketPathTooLongError.
 */
export function checkIpcPath(path: string): void {
  if (process.platform === 'win32') return;
  const bytes = Buffer.byteLength(path);
  if (path.startsWith('\0')) {
    if (bytes > ABSTRACT_NAME_LIMIT) throw new SocketPathTooLongError(path, bytes, ABSTRACT_NAME_LIMIT);
    return;
  }
  if (path.includes('\0')) {
    throw new TypeError(
      'A socket file path must not contain a NUL byte; only an abstract name starts with one.',
    );
  }
  if (bytes > SOCKET_PATH_LIMIT) throw new SocketPathTooLongError(path, bytes, SOCKET_PATH_LIMIT);
}

/**
 * Refuses a file path whose private binding path (`<dir>/.sfXXXXXX/s`) would not fit, though the
 * path itself does: only a short file name in a directory near the limit.
 */
export function checkPrivatePath(path: string): void {
  const bytes = Buffer.byteLength(dirname(path)) + PRIVATE_EXTRA;
  if (bytes > SOCKET_PATH_LIMIT) {
    throw new SocketPathTooLongError(
      path,
      Buffer.byteLength(path),
      SOCKET_PATH_LIMIT,
      `Socket path ${path} leaves no room for the private directory it is bound in first: ` +
        `${dirname(path)} may have at most ${SOCKET_PATH_LIMIT - PRIVATE_EXTRA} bytes on ${process.platform}.`,
    );
  }
}

/** The private directory next to `path` (mode 0700) and the path to bind in it. */
export function makePrivateDir(path: string): { dir: string; socketPath: string } {
  const dir = mkdtempSync(join(dirname(path), PRIVATE_PREFIX));
  return { dir, socketPath: join(dir, PRIVATE_NAME) };
}

/** Removes the private directory and whatever is left in it. Never throws. */
export function removePrivateDir(dir: string): void {
  for (const name of [PRIVATE_NAME, ASIDE_NAME]) {
    try {
      unlinkSync(join(dir, name));
    } catch {
      // Not there.
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // Gone already, or someone put something in it: leave it.
  }
}

/** Device and inode: which file a path refers to. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

export function identityOf(stats: Stats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino };
}

function sameFile(stats: Stats, identity: FileIdentity): boolean {
  return stats.dev === identity.dev && stats.ino === identity.ino;
}

/** Where `removeIfSame` moves the file it checks. */
const ASIDE_NAME = 'old';

/**
 * Removes the file at `path` only if it is still `identity`. unlink() cannot be made conditional,
 * so the file is first moved into `privateDir` (atomic) and looked at there; a file that turns out
 * to be someone else's (put at the path since it was last looked at) is put back at once.
 * Returns whether `identity` was removed.
 */
export function removeIfSame(path: string, identity: FileIdentity, privateDir: string): boolean {
  const aside = join(privateDir, ASIDE_NAME);
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (sameFile(lstatSync(aside), identity)) {
    unlinkSync(aside);
    return true;
  }
  try {
    linkSync(aside, path);
  } finally {
    unlinkSync(aside);
  }
  return false;
}

/**
 * Unlinks `path` if it still refers to `identity` (the socket this process bound), and leaves
 * any other file alone. Never throws.
 */
export function unlinkIfOurs(path: string, identity: FileIdentity): void {
  try {
    if (!sameFile(lstatSync(path), identity)) return;
  } catch {
    return;
  }
  let privateDir: string | undefined;
  try {
    privateDir = makePrivateDir(path).dir;
    removeIfSame(path, identity, privateDir);
  } catch {
    // The directory is not writable any more: the plain unlink, after the check above.
    try {
      if (sameFile(lstatSync(path), identity)) unlinkSync(path);
    } catch {
      // Gone meanwhile.
    }
  } finally {
    if (privateDir !== undefined) removePrivateDir(privateDir);
  }
}
