// The README's MessagePack recipe: a serializer built on msgpackr, over lengthField() framing
// (binary payloads may contain any byte, so not over delimited()). msgpackr is not a dependency
// of sockframe; this test runs when it is installed as a devDependency and is skipped otherwise.
import { jsonRpc, lengthField, TcpClient, TcpServer, type RpcSerializer } from 'sockframe';
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

if (msgpackr === undefined) {
  test.skip('msgpackr is not installed (add it as a devDependency to run the MessagePack recipe)', () => {});
} else {
  const { Packr } = msgpackr;
  test('JSON-RPC with a MessagePack serializer', async () => {
    const packr = new Packr({ useRecords: false });
    const msgpack: RpcSerializer = { encode: (m) => packr.pack(m), decode: (b) => packr.unpack(b) };
    interface Api {
      echo(p: { bytes: Uint8Array }): Uint8Array;
    }
    const server = resources.add(
      new TcpServer({ framing: lengthField(), rpc: jsonRpc<Api>({ serializer: msgpack }) }),
      (s) => s.close({ timeout: 500 }),
    );
    server.handle('echo', ({ bytes }) => bytes);
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const client = resources.add(
      new TcpClient({ port, host: '127.0.0.1', rpc: jsonRpc<unknown, Api>({ serializer: msgpack }) }),
      (c) => c.close({ timeout: 500 }),
    );
    await client.connect();
    const bytes = Uint8Array.from([0, 10, 13, 255]);
    expect(Buffer.from(await client.call('echo', { bytes }))).toEqual(Buffer.from(bytes));
  });
}
