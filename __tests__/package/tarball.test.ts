/**
 * The package as `npm pack` ships it, built from the working tree and unpacked into projects of
 * their own (see helpers/pack.ts): what it holds, how big it is, and that CommonJS, ESM and
 * TypeScript users (nodenext, bundler, node10) can load it. The README's code blocks are checked
 * against the same kind of install by __tests__/docs/readme.test.ts.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  expectSuccess,
  makeConsumer,
  NODE_MODULES,
  packFreshBuild,
  run,
  TSC,
  type Consumer,
  type Packed,
  type Run,
} from '../helpers/pack';

// Each TypeScript test runs tsc once, which takes tens of seconds on a busy machine.
jest.setTimeout(180_000);

let packed: Packed;
let consumer: Consumer;

beforeAll(async () => {
  packed = await packFreshBuild();
  consumer = await makeConsumer(packed, {});
}, 400_000);

afterAll(async () => {
  await consumer?.cleanup();
  await packed?.cleanup();
});

const paths = (): string[] => packed.files.map((f) => f.path);

test('holds dist (JavaScript and declarations only), README, CHANGELOG, LICENSE and package.json', () => {
  const outside = paths()
    .filter((f) => !f.startsWith('dist/'))
    .sort();
  expect(outside).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
  expect(paths()).toEqual(
    expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/adapters/redis.js']),
  );
  // No source maps, no tests, no TypeScript sources, no build info.
  expect(paths().filter((f) => f.startsWith('dist/') && !/\.(js|d\.ts)$/.test(f))).toEqual([]);
  expect(paths().filter((f) => /__tests__|\.test\.|\.map$|tsbuildinfo/.test(f))).toEqual([]);
});

test('stays small: under 250 kB packed and 1 MB unpacked', () => {
  // 168 kB packed and 620 kB unpacked without source maps; about 1.25 MB unpacked with them.
  expect(packed.size).toBeLessThan(250_000);
  expect(packed.unpackedSize).toBeLessThan(1_000_000);
  const largest = [...packed.files].sort((a, b) => b.size - a.size)[0];
  expect(largest?.size).toBeLessThan(150_000);
});

test('the shipped JavaScript has no sourceMappingURL pointing at maps that are not shipped', async () => {
  const result = await run(
    'grep',
    ['-rl', 'sourceMappingURL', join(consumer.dir, 'node_modules', 'sockframe', 'dist')],
    consumer.dir,
  );
  expect(result.stdout).toBe('');
});

const echo = (importLine: string): string => `${importLine}
const server = new TcpServer();
server.on('message', (conn, message) => conn.send(message));
server.listen({ port: 0, host: '127.0.0.1' }).then(async ({ port }) => {
  const client = new TcpClient({ host: '127.0.0.1', port });
  await client.connect();
  const reply = new Promise((resolve) => client.once('message', resolve));
  client.send('round trip');
  console.log('echo:' + String(await reply));
  await client.close();
  await server.close();
});
`;

test('require() from CommonJS', async () => {
  await writeFile(
    join(consumer.dir, 'cjs.cjs'),
    echo("const { TcpServer, TcpClient } = require('sockframe');"),
  );
  const result = await run(process.execPath, ['cjs.cjs'], consumer.dir);
  expectSuccess(result);
  expect(result.stdout).toBe('echo:round trip\n');
});

test('import from ESM', async () => {
  await writeFile(join(consumer.dir, 'esm.mjs'), echo("import { TcpServer, TcpClient } from 'sockframe';"));
  const result = await run(process.execPath, ['esm.mjs'], consumer.dir);
  expectSuccess(result);
  expect(result.stdout).toBe('echo:round trip\n');
});

test('sockframe/redis loads without ioredis being required by the core entry point', async () => {
  const probe = `const core = require('sockframe');
const redis = require('sockframe/redis');
console.log(typeof core.TcpServer, typeof redis.RedisAdapter, Object.keys(require.cache).some((f) => f.includes('/ioredis/')));
`;
  await writeFile(join(consumer.dir, 'redis-probe.cjs'), probe);
  const result = await run(process.execPath, ['redis-probe.cjs'], consumer.dir);
  expectSuccess(result);
  expect(result.stdout).toBe('function function false\n');
});

/** Compiles one file with tsc into out-<name>/ and runs what it emitted. */
async function compileAndRun(file: string, source: string, options: string): Promise<Run> {
  await writeFile(join(consumer.dir, file), source);
  const outDir = `out-${file.replace(/\.m?ts$/, '')}`;
  // skipLibCheck: the declarations themselves are checked under strict by the README tests.
  const flags = `--strict --types node --skipLibCheck --outDir ${outDir} ${options}`.split(' ');
  const compiled = await run(process.execPath, [TSC, ...flags, file], consumer.dir, { timeout: 120_000 });
  expectSuccess(compiled, `tsc ${options}`);
  const emitted = join(outDir, file.replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs'));
  return run(process.execPath, [emitted], consumer.dir);
}

test('strict TypeScript, module nodenext: typed events, and a wrong event name does not compile', async () => {
  const source = `import { TcpServer, TcpClient, lengthField, type Connection } from 'sockframe';
const server = new TcpServer<{ name: string }>({ framing: lengthField() });
server.on('message', (conn: Connection<{ name: string }>, message: Buffer) => conn.send(message));
server.listen({ port: 0, host: '127.0.0.1' }).then(async ({ port }) => {
  const client = new TcpClient({ host: '127.0.0.1', port });
  await client.connect();
  const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
  client.send('typed');
  console.log('echo:' + (await reply).toString());
  await client.close();
  await server.close();
});
// @ts-expect-error: not an event of a server
server.on('mesage', () => {});
`;
  const result = await compileAndRun('app.ts', source, '--module nodenext --target es2022');
  expectSuccess(result);
  expect(result.stdout).toBe('echo:typed\n');
});

test('moduleResolution node10 finds the types of sockframe and sockframe/redis (typesVersions)', async () => {
  const source = `import { TcpServer } from 'sockframe';
import { RedisAdapter } from 'sockframe/redis';
const server: TcpServer = new TcpServer();
type Options = ConstructorParameters<typeof RedisAdapter>[0];
const channel: Options['channel'] = 'chat';
console.log(typeof server.listen, channel);
`;
  const result = await compileAndRun(
    'node10.ts',
    source,
    '--module commonjs --moduleResolution node10 --ignoreDeprecations 6.0 --target es2022',
  );
  expectSuccess(result);
  expect(result.stdout).toBe('function chat\n');
});

describe('await using, by compile target (the README TypeScript notes)', () => {
  const program = `import { TcpServer } from 'sockframe';
{
  await using server = new TcpServer();
  await server.listen({ port: 0, host: '127.0.0.1' });
  console.log('listening:', server.connections.size === 0);
}
console.log('disposed');
`;

  async function runtimeParsesAwaitUsing(): Promise<boolean> {
    const probe = await run(
      process.execPath,
      ['--input-type=module', '-e', 'await using x = null;'],
      consumer.dir,
    );
    return probe.code === 0;
  }

  test('target es2022: lowered, runs on this Node', async () => {
    const result = await compileAndRun(
      'using-es2022.mts',
      program,
      '--module nodenext --target es2022 --lib es2022,esnext.disposable',
    );
    expectSuccess(result);
    expect(result.stdout).toBe('listening: true\ndisposed\n');
  });

  test('target esnext: emitted as written, runs only where the runtime parses it (not Node 20)', async () => {
    const result = await compileAndRun('using-esnext.mts', program, '--module nodenext --target esnext');
    if (await runtimeParsesAwaitUsing()) {
      expectSuccess(result);
      expect(result.stdout).toBe('listening: true\ndisposed\n');
    } else {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/SyntaxError/);
    }
    if (process.versions.node.startsWith('20.')) expect(result.stderr).toMatch(/SyntaxError/);
  });
});

/**
 * What only sockframe's own modules may call: removed from the published declarations
 * (`stripInternal`), so that no user program can come to depend on it.
 */
const INTERNAL_NAMES = [
  'rawSocket',
  'sendEncoded',
  'sendShared',
  'closeFor',
  'whenClosed',
  'listenerFault',
  'handlerStarted',
  'handlerSettled',
  'logsAt',
  'sweepIdle',
  'overBudget',
  'rpcPeer',
  'noteReceived',
  'noteDelivered',
  'noteRejected',
  'noteSent',
  'markClosed',
  'ResolvedRpcOptions',
  'UdpPeerOwner',
  'FaultSink',
  'IdleWatched',
];

async function declarationFiles(): Promise<string[]> {
  const dist = join(consumer.dir, 'node_modules', 'sockframe', 'dist');
  const found = await readdir(dist, { recursive: true });
  return found.filter((f) => f.endsWith('.d.ts')).map((f) => join(dist, f));
}

test('no internal member or type is in the declarations', async () => {
  const files = await declarationFiles();
  expect(files.length).toBeGreaterThan(20);
  const leaks: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const name of INTERNAL_NAMES) {
      if (new RegExp(`\\b${name}\\b`).test(text))
        leaks.push(`${file.slice(consumer.dir.length + 1)}: ${name}`);
    }
  }
  expect(leaks).toEqual([]);
});

test('every declaration file compiles in a strict consumer with skipLibCheck off', async () => {
  const files = await declarationFiles();
  // Generic names are checked on the classes that had them: each line must fail to compile.
  const source = `import {
Connection,
NodeClusterAdapter,
SocketClient,
SocketServer,
TcpClient,
TcpServer,
UdpPeer,
UdpServer,
} from 'sockframe';
import { RedisAdapter } from 'sockframe/redis';
declare const conn: Connection;
declare const server: TcpServer;
declare const udp: UdpServer;
declare const peer: UdpPeer;
declare const client: TcpClient;
declare const cluster: NodeClusterAdapter;
// @ts-expect-error: internal
conn.fault;
// @ts-expect-error: internal
conn.flush;
// @ts-expect-error: internal
conn.logger;
// @ts-expect-error: internal
conn.heldBytes;
// @ts-expect-error: internal
conn.rawSocket;
// @ts-expect-error: internal
(server as SocketServer<Connection, unknown, unknown>).listenerFault;
// @ts-expect-error: internal
(client as SocketClient).listenerFault;
// @ts-expect-error: internal
peer.lastSeenAt;
// @ts-expect-error: internal
peer.noteSent;
// @ts-expect-error: internal
cluster.deliver;
export const used: unknown[] = [udp, RedisAdapter, peer.stats.lastSeenAt];
`;
  await writeFile(join(consumer.dir, 'consumer.ts'), source);
  await writeFile(
    join(consumer.dir, 'tsconfig.consumer.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022', 'esnext.disposable'],
        types: ['node'],
        typeRoots: [join(NODE_MODULES, '@types')],
      },
      files: ['consumer.ts', ...files],
    }),
  );
  const result = await run(process.execPath, [TSC, '-p', 'tsconfig.consumer.json'], consumer.dir, {
    timeout: 170_000,
  });
  expect(result.stdout + result.stderr).toBe('');
  expectSuccess(result);
});
