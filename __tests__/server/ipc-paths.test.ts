import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpcClient, IpcServer } from 'sockframe';
import { delay, Resources, staleSocketFile, tmpSocketPath } from '../helpers/net';
import { expectEcho, rawClient, record } from './support';
import { prng as seeded } from '../helpers/random';

const resources = new Resources();
afterEach(() => resources.closeAll());

const unixOnly = process.platform === 'win32' ? test.skip : test;
const linuxOnly = process.platform === 'linux' ? test : test.skip;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;
/** Tests that connect as another user: they need root to start a process as `nobody`. */
const asRootOnly = isRoot ? test : test.skip;
if (!isRoot && process.platform !== 'win32') {
  // Said once, so that a run as an ordinary user shows why the permission tests did not run.
  test.skip('permission tests need root (to connect as the user nobody)', () => {});
}

/** The longest socket file path, in bytes: sun_path holds 108 bytes on Linux, 104 on the BSDs, with the NUL. */
const PATH_LIMIT = /^(darwin|freebsd|openbsd|netbsd)$/.test(process.platform) ? 103 : 107;

/** An echoing IpcServer, closed after the test. */
function ipcServer(): IpcServer {
  const server = resources.add(new IpcServer(), (s) => s.close({ timeout: 500 }));
  server.on('message', (conn, message) => {
    if (conn.isOpen) conn.send(message);
  });
  return server;
}

/** A fresh directory of the test's own, removed with everything in it after the test. */
function privateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sf-'));
  return resources.add(dir, (d) => rmSync(d, { recursive: true, force: true }));
}

/** A path in `dir` of exactly `bytes` bytes (ASCII). */
function pathOfLength(dir: string, bytes: number, fill = 'p'): string {
  const path = `${dir}/`;
  return path + fill.repeat(bytes - Buffer.byteLength(path));
}

/** What calling `fn` threw (fails when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** A bare net.Server on `path`, closed after the test. */
function netServer(path: string): Promise<Server> {
  const server = resources.add(
    createServer((socket) => socket.destroy()),
    (s) => {
      return new Promise((resolve) => s.close(resolve));
    },
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

function withSeed<T>(seed: number, run: () => Promise<T>): Promise<T> {
  return run().catch((err: unknown) => {
    if (err instanceof Error)
      err.message = `seed ${seed} (SOCKFRAME_SEED=${seed} replays it): ${err.message}`;
    throw err;
  });
}

const SEED = Number(process.env.SOCKFRAME_SEED ?? Date.now() % 2 ** 31);

describe('path limits', () => {
  unixOnly('a path of the largest length the system takes listens, serves and is removed', async () => {
    const dir = privateDir();
    const path = pathOfLength(dir, PATH_LIMIT);
    const server = ipcServer();
    await expect(server.listen({ path, mode: 0o600 })).resolves.toEqual({ path });
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expectEcho(await rawClient(resources, { path }), 'at the limit');
    await server.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  unixOnly('one byte more is refused with ERR_SOCKET_PATH_TOO_LONG and nothing is left on disk', async () => {
    const dir = privateDir();
    const path = pathOfLength(dir, PATH_LIMIT + 1);
    const server = ipcServer();
    const err = await server.listen({ path }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'SocketPathTooLongError',
      code: 'ERR_SOCKET_PATH_TOO_LONG',
      path,
      bytes: PATH_LIMIT + 1,
      limit: PATH_LIMIT,
    });
    expect((err as Error).message).toBe(
      `Socket path of ${PATH_LIMIT + 1} bytes exceeds the limit of ${PATH_LIMIT} bytes on ${process.platform}: ${path}`,
    );
    expect(server.listening).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  unixOnly(
    'an over-long path with mode is refused the same way, and nothing accepts afterwards',
    async () => {
      const dir = privateDir();
      const path = pathOfLength(dir, PATH_LIMIT + 40);
      const server = ipcServer();
      const recorded = record(server);
      await expect(server.listen({ path, mode: 0o600 })).rejects.toMatchObject({
        code: 'ERR_SOCKET_PATH_TOO_LONG',
      });
      expect(readdirSync(dir)).toEqual([]);
      await server.close();
      // Where the system would have cut the name: nobody listens there either.
      const truncated = path.slice(0, PATH_LIMIT + 1);
      await expect(rawClient(resources, { path: truncated })).rejects.toMatchObject({ code: 'ENOENT' });
      expect(recorded.connects).toEqual([]);
    },
  );

  unixOnly('the limit counts bytes, not characters', async () => {
    const dir = privateDir();
    const prefix = `${dir}/`;
    // 'é' is 2 bytes in UTF-8: fewer characters than the limit, more bytes.
    const path = prefix + 'é'.repeat(Math.ceil((PATH_LIMIT - prefix.length) / 2) + 1);
    expect(path.length).toBeLessThanOrEqual(PATH_LIMIT);
    await expect(ipcServer().listen({ path })).rejects.toMatchObject({ code: 'ERR_SOCKET_PATH_TOO_LONG' });
    expect(readdirSync(dir)).toEqual([]);
  });

  unixOnly('a NUL byte inside a socket file path is a TypeError, not a shorter path', async () => {
    const dir = privateDir();
    const path = `${dir}/app\0.sock`;
    await expect(ipcServer().listen({ path })).rejects.toThrow(
      new TypeError('A socket file path must not contain a NUL byte; only an abstract name starts with one.'),
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  linuxOnly('abstract names take up to 108 bytes, and one more is refused', async () => {
    const name = (bytes: number): string => `\0sf-${randomBytes(4).toString('hex')}`.padEnd(bytes, 'a');
    const longest = name(108);
    const server = ipcServer();
    await expect(server.listen({ path: longest })).resolves.toEqual({ path: longest });
    await expectEcho(await rawClient(resources, { path: longest }), 'abstract');
    await expect(ipcServer().listen({ path: name(109) })).rejects.toMatchObject({
      code: 'ERR_SOCKET_PATH_TOO_LONG',
      bytes: 109,
      limit: 108,
    });
  });

  unixOnly(
    'IpcClient refuses an over-long path instead of reaching whoever serves its truncation',
    async () => {
      const dir = privateDir();
      const path = pathOfLength(dir, PATH_LIMIT + 20);
      // Someone serves the name the system would cut the client's path to.
      await netServer(path.slice(0, PATH_LIMIT));
      const err = thrown(() => resources.add(new IpcClient({ path }), (c) => c.close()));
      expect(err).toMatchObject({
        name: 'SocketPathTooLongError',
        code: 'ERR_SOCKET_PATH_TOO_LONG',
        bytes: PATH_LIMIT + 20,
        limit: PATH_LIMIT,
      });
      expect(thrown(() => new IpcClient({ path: `${dir}/a\0b` }))).toBeInstanceOf(TypeError);
    },
  );
});

/** A node process running as `nobody` that connects to `path` in a loop and reports what happened. */
function connectLoopAsNobody(path: string): {
  child: ChildProcessWithoutNullStreams;
  results: () => Promise<Record<string, number>>;
} {
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
  const script = `
    const net = require('node:net');
    const counts = {};
    let stopped = false;
    const note = (what) => { counts[what] = (counts[what] || 0) + 1; };
    const attempt = () => {
      if (stopped) return;
      const socket = net.connect(process.argv[1]);
      socket.on('connect', () => { note('connected'); socket.destroy(); setImmediate(attempt); });
      // EAGAIN: the listen backlog is full for a moment (a loaded machine); that says nothing of access.
      socket.on('error', (err) => { if (err.code !== 'EAGAIN') note(err.code); setImmediate(attempt); });
    };
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => { stopped = true; process.stdout.write(JSON.stringify(counts)); });
    console.error('ready');
    // Several attempts in flight at once, to hit the moment between bind and chmod if there is one.
    for (let i = 0; i < 8; i++) attempt();
  `;
  const child = spawn(process.execPath, ['-e', script, path], { uid, gid, cwd: '/' });
  resources.add(child, (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    results: async () => {
      child.stdin.end();
      await exited;
      return JSON.parse(out) as Record<string, number>;
    },
  };
}

async function started(child: ChildProcessWithoutNullStreams): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.stderr.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`connecting process exited early with ${code}`)));
  });
}

describe('mode', () => {
  asRootOnly('another user is refused with mode 0o600 and let in with 0o666', async () => {
    for (const [mode, expected] of [
      [0o600, 'EACCES'],
      [0o666, 'connected'],
    ] as const) {
      const path = resources.removeFile(tmpSocketPath());
      const server = ipcServer();
      const recorded = record(server);
      await server.listen({ path, mode });
      const loop = connectLoopAsNobody(path);
      await started(loop.child);
      await delay(50);
      const results = await loop.results();
      expect(Object.keys(results)).toEqual([expected]);
      if (expected === 'EACCES') expect(recorded.connects).toEqual([]);
      else expect(recorded.connects.length).toBeGreaterThan(0);
      await server.close();
    }
  });

  asRootOnly('mode is in force before the first connection is accepted, whatever the umask', async () => {
    const path = resources.removeFile(tmpSocketPath());
    const loop = connectLoopAsNobody(path);
    await started(loop.child);
    const previous = process.umask(0);
    let accepted = 0;
    const rounds = 100;
    try {
      for (let round = 0; round < rounds; round++) {
        const server = ipcServer();
        server.on('connect', () => accepted++);
        await server.listen({ path, mode: 0o600 });
        // Connections the kernel took while listen() was under way surface now.
        await delay(2);
        await server.close();
      }
    } finally {
      process.umask(previous);
    }
    const results = await loop.results();
    // The other user did reach the socket: its attempts were refused by the permissions.
    expect(results.EACCES ?? 0).toBeGreaterThan(0);
    expect({ accepted, connected: results.connected ?? 0 }).toEqual({ accepted: 0, connected: 0 });
  });
});

describe('stale files and races', () => {
  unixOnly(
    'two servers on one stale socket file: exactly one wins, the other gets ERR_ADDRESS_IN_USE',
    async () => {
      const random = seeded(SEED);
      await withSeed(SEED, async () => {
        for (let round = 0; round < 30; round++) {
          const path = resources.removeFile(tmpSocketPath());
          await staleSocketFile(resources, path);
          const first = ipcServer();
          const second = ipcServer();
          const a = first.listen({ path });
          // Start the second now, or a few turns of the event loop later.
          for (let turns = Math.floor(random() * 4); turns > 0; turns--) await new Promise(setImmediate);
          const b = second.listen({ path });
          const [ra, rb] = await Promise.allSettled([a, b]);
          const outcomes = [ra.status, rb.status].sort();
          expect({ round, outcomes }).toEqual({ round, outcomes: ['fulfilled', 'rejected'] });
          const [winner, loser, failure] =
            ra.status === 'fulfilled' ? [first, second, rb] : [second, first, ra];
          expect((failure as PromiseRejectedResult).reason).toMatchObject({
            code: 'ERR_ADDRESS_IN_USE',
            address: path,
          });
          await loser.close();
          expect(lstatSync(path).isSocket()).toBe(true);
          await expectEcho(await rawClient(resources, { path }), `round ${round}`);
          await winner.close();
          expect(existsSync(path)).toBe(false);
        }
      });
    },
  );

  unixOnly('close() leaves alone a socket file that another server has put at the path since', async () => {
    const path = resources.removeFile(tmpSocketPath());
    const server = ipcServer();
    await server.listen({ path });
    // Someone removes the file and serves the path themselves.
    rmSync(path);
    await netServer(path);
    const theirs = lstatSync(path).ino;
    await server.close();
    expect(lstatSync(path).ino).toBe(theirs);
    const client = await rawClient(resources, { path });
    await client.closed; // theirs: it hangs up at once
  });

  unixOnly('nothing but the socket is left next to it while listening, and nothing after close', async () => {
    const dir = privateDir();
    const path = join(dir, 'app.sock');
    const server = ipcServer();
    await server.listen({ path, mode: 0o660 });
    expect(readdirSync(dir)).toEqual(['app.sock']);
    await server.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  unixOnly('a relative path is removed on close even after the process changed directory', async () => {
    const dir = privateDir();
    const elsewhere = privateDir();
    const before = process.cwd();
    resources.add(before, (cwd) => process.chdir(cwd));
    process.chdir(dir);
    const server = ipcServer();
    await expect(server.listen({ path: 'app.sock' })).resolves.toEqual({ path: 'app.sock' });
    await expectEcho(await rawClient(resources, { path: join(dir, 'app.sock') }), 'relative path');
    process.chdir(elsewhere);
    await server.close();
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
