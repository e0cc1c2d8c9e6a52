import { contentLength, NEED_MORE, TcpClient, TcpServer, jsonRpc, type SockframeError } from 'sockframe';
import { encodeAll, record } from './helpers';
import { Resources, waitUntil } from '../helpers/net';
import { connect } from 'node:net';

const resources = new Resources();
afterEach(() => resources.closeAll());

const wire = (...parts: string[]): Buffer => Buffer.from(parts.join(''), 'latin1');

describe('contentLength()', () => {
  test('the LSP base protocol: Content-Length, other headers allowed, header stripped', () => {
    const { assembler, messages, errors } = record({ framing: contentLength() });
    assembler.push(
      wire(
        'Content-Length: 5\r\n\r\nhello',
        'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length:  3 \r\n\r\nabc',
        'Content-Length: 0\r\n\r\n',
      ),
    );
    expect(errors).toEqual([]);
    expect(messages.map((m) => m.toString())).toEqual(['hello', 'abc', '']);
  });

  test('the encoder writes Content-Length: N\\r\\n\\r\\n, also through its in-place header writer', () => {
    const framing = contentLength();
    expect(encodeAll(framing, [Buffer.from('{}')]).toString()).toBe('Content-Length: 2\r\n\r\n{}');
    const target = Buffer.alloc(64);
    const size = framing.encodeHeader(1234, target, 3);
    expect(target.toString('latin1', 3, 3 + size)).toBe('Content-Length: 1234\r\n\r\n');
    expect(size).toBeLessThanOrEqual(framing.maxHeaderSize as number);
  });

  test('split at every offset, the same messages come out', () => {
    const bytes = wire('X-A: 1\r\nContent-Length: 4\r\n\r\nabcd', 'Content-Length: 2\r\n\r\nef');
    for (let cut = 1; cut < bytes.length; cut++) {
      const { assembler, messages, errors } = record({ framing: contentLength() });
      assembler.push(bytes.subarray(0, cut));
      assembler.push(bytes.subarray(cut));
      expect(errors).toEqual([]);
      expect(messages.map((m) => m.toString())).toEqual(['abcd', 'ef']);
    }
  });

  test('a header arriving byte by byte is scanned from where the last call stopped (linear)', () => {
    const framing = contentLength();
    const scanned: number[] = [];
    const spy = {
      ...framing,
      messageLength(head: Buffer, seen?: number) {
        scanned.push(head.length - Math.max(0, (seen ?? 0) - 3));
        return framing.messageLength(head, seen);
      },
    };
    const header = `X-Pad: ${'p'.repeat(4000)}\r\nContent-Length: 1\r\n\r\n`;
    const { assembler, messages } = record({ framing: spy });
    for (const byte of wire(header, 'z')) assembler.push(Buffer.from([byte]));
    expect(messages.map((m) => m.toString())).toEqual(['z']);
    // Without `seen`, each call would rescan the whole header: about n²/2 bytes.
    const total = scanned.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(header.length * 8);
    expect(framing.messageLength(wire('Content-Length: 1\r\n'), 0)).toBe(NEED_MORE);
  });

  test.each([
    ['no Content-Length', 'Content-Type: x\r\n\r\n'],
    ['two Content-Length fields', 'Content-Length: 1\r\nContent-Length: 1\r\n\r\nx'],
    ['a value that is not a number', 'Content-Length: 12abc\r\n\r\n'],
    ['a negative value', 'Content-Length: -1\r\n\r\n'],
    ['a line that is not a header field', '{"jsonrpc":"2.0"}\r\n\r\n'],
    ['an empty header', '\r\n\r\n'],
  ])('a malformed header (%s) is ERR_INVALID_FRAME_LENGTH', (_name, text) => {
    const { errors } = ((r) => (r.assembler.push(wire(text)), r))(record({ framing: contentLength() }));
    expect(errors.map((e) => e.code)).toEqual(['ERR_INVALID_FRAME_LENGTH']);
  });

  test('an endless header is bounded by maxHeaderBytes; a body by maxMessageSize', () => {
    const long = record({ framing: contentLength(), maxHeaderBytes: 1024 });
    long.assembler.push(wire('X: ', 'y'.repeat(2000)));
    expect(long.errors.map((e) => e.code)).toEqual(['ERR_INVALID_FRAME_LENGTH']);
    const big = record({ framing: contentLength({ maxMessageSize: 100 }) });
    big.assembler.push(wire('Content-Length: 1000\r\n\r\n'));
    expect(big.errors.map((e) => e.code)).toEqual(['ERR_FRAME_TOO_LARGE']);
  });

  test('over a socket: a hostile header closes that connection only; JSON-RPC keeps serving others', async () => {
    const server = resources.add(
      new TcpServer({
        framing: contentLength(),
        rpc: jsonRpc<{ add(p: { a: number; b: number }): number }>(),
      }),
      (s) => s.close({ timeout: 500 }),
    );
    server.handle('add', ({ a, b }) => a + b);
    const errors: SockframeError[] = [];
    server.on('error', (e) => errors.push(e));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const hostile = connect(port, '127.0.0.1');
    resources.socket(hostile);
    hostile.on('error', () => {});
    hostile.write('Content-Length: lots\r\n\r\n');
    await waitUntil(() => errors.length === 1);
    expect(errors[0]?.code).toBe('ERR_INVALID_FRAME_LENGTH');
    const c = resources.add(
      new TcpClient({
        port,
        host: '127.0.0.1',
        framing: contentLength(),
        rpc: jsonRpc<unknown, { add(p: { a: number; b: number }): number }>(),
      }),
      (x) => x.close({ timeout: 500 }),
    );
    await c.connect();
    await expect(c.call('add', { a: 20, b: 22 })).resolves.toBe(42);
  });
});
