// The README's MessagePack recipe: a serializer built on msgpackr, over the default lengthField()
// framing (binary payloads may contain any byte, so not over delimited()). msgpackr is not a
// dependency of sockframe; this test runs when it is installed as a devDependency and is skipped
// otherwise. The recipe's lines are used here as the README has them, and checked to be so.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { jsonRpc, RpcError, TcpClient, TcpServer } from 'sockframe';
import { Resources } from '../helpers/net';

interface MsgpackModule {
  Packr: new (options?: { useRecords?: boolean }) => { pack(v: unknown): Buffer; unpack(b: Buffer): unknown };
}

const msgpackr = ((): MsgpackModule | undefined => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, loaded only when present
    return require('msgpackr') as MsgpackModule;
  } catch {
    return undefined;
  }
})();

const resources = new Resources();
afterEach(() => resources.closeAll());

interface Api {
  echo(p: { bytes: Uint8Array; nested: unknown }): { bytes: Uint8Array; nested: unknown };
  fail(): never;
}
interface ClientApi {
  twice(p: { n: number }): number;
}

/** The code block under the README's "### MessagePack" heading, line by line. */
function readmeRecipe(): string[] {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### MessagePack'));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (block === null) throw new Error('no code block in the README MessagePack section');
  return (block[1] as string).split('\n').filter((line) => line.trim() !== '');
}

test('the README recipe makes the Packr this test uses', () => {
  // The README block runs as a whole program in the doc tests (__tests__/docs); its Packr is made
  // here as there (the msgpackr import is dynamic here: the file runs without it too).
  const source = readFileSync(__filename, 'utf8');
  const recipe = readmeRecipe();
  expect(recipe[0]).toBe("import { Packr } from 'msgpackr';");
  const made = recipe.filter((line) => line.startsWith('const packr = '));
  expect(made).toHaveLength(1);
  expect(source).toContain(made[0]);
});

if (msgpackr === undefined) {
  test.skip('msgpackr is not installed (add it as a devDependency to run the MessagePack recipe)', () => {});
} else {
  const { Packr } = msgpackr;
  test('JSON-RPC with a MessagePack serializer', async () => {
    const packr = new Packr({ useRecords: false });
    const msgpack = { encode: (m: unknown) => packr.pack(m), decode: (b: Buffer) => packr.unpack(b) };
    const server = new TcpServer({ rpc: jsonRpc<Api>({ serializer: msgpack }) });
    resources.add(server, (s) => s.close({ timeout: 500 }));
    server.handle('echo', (p) => p);
    server.handle('fail', () => {
      throw new RpcError(-32042, 'custom failure', { bytes: Uint8Array.from([1, 2]) });
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = resources.add(
      new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc<ClientApi, Api>({ serializer: msgpack }) }),
      (c) => c.close({ timeout: 500 }),
    );
    client.handle('twice', ({ n }) => 2 * n);
    await client.connect();

    // Every byte value, in a binary field: no escaping, no base64.
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const nested = { text: 'é\n\0', numbers: [0, -1, 2 ** 40, 0.5], none: null, yes: true };
    const echoed = await client.call('echo', { bytes, nested });
    expect(Buffer.from(echoed.bytes)).toEqual(Buffer.from(bytes));
    expect(echoed.nested).toEqual(nested);
    await expect(client.call('fail')).rejects.toMatchObject({ code: 'ERR_REMOTE', rpcCode: -32042 });
    const conn = [...server.connections.values()][0];
    expect(await conn?.call('twice', { n: 21 })).toBe(42);
  });

  test('the wire carries MessagePack in lengthField() frames', async () => {
    const packr = new Packr({ useRecords: false });
    const msgpack = { encode: (m: unknown) => packr.pack(m), decode: (b: Buffer) => packr.unpack(b) };
    const server = resources.add(new TcpServer({ rpc: jsonRpc<Api>({ serializer: msgpack }) }), (s) =>
      s.close({ timeout: 500 }),
    );
    server.handle('echo', (p) => p);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    // A peer written against the wire: a 4-byte big-endian length, then one MessagePack map.
    const socket = connect(port, '127.0.0.1');
    resources.add(socket, (s) => s.destroy());
    const request = packr.pack({
      jsonrpc: '2.0',
      id: 7,
      method: 'echo',
      params: { bytes: Buffer.from([255]), nested: 1 },
    });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(request.length);
    socket.write(Buffer.concat([header, request]));
    let received = Buffer.alloc(0);
    const response = await new Promise<unknown>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length >= 4 && received.length >= 4 + received.readUInt32BE(0)) {
          resolve(packr.unpack(received.subarray(4, 4 + received.readUInt32BE(0))));
        }
      });
    });
    expect(response).toEqual({ jsonrpc: '2.0', id: 7, result: { bytes: Buffer.from([255]), nested: 1 } });
  });
}
