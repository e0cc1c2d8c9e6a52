import { connect, type Socket } from 'node:net';
import { FrameTooLargeError, lines, TcpServer } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { encodeAll, pushCut, pushInChunks, record, texts } from './helpers';
import { prng as random } from '../helpers/random';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Lines as Netty's LineBasedFrameDecoder cuts them, computed the plain way over the whole stream. */
function reference(stream: string): { lines: string[]; rest: string } {
  const out: string[] = [];
  let from = 0;
  for (let at = stream.indexOf('\n'); at >= 0; at = stream.indexOf('\n', from)) {
    const end = at > from && stream[at - 1] === '\r' ? at - 1 : at;
    out.push(stream.slice(from, end));
    from = at + 1;
  }
  return { lines: out, rest: stream.slice(from) };
}

describe('lines(): decoding', () => {
  test('\\n and \\r\\n both end a line, mixed in one stream, and neither is delivered', () => {
    const { assembler, messages, errors } = record({ framing: lines() });
    assembler.push(latin1('one\ntwo\r\nthree\n\r\nfive\r\n\n'));
    expect(errors).toEqual([]);
    expect(texts(messages)).toEqual(['one', 'two', 'three', '', 'five', '']);
  });

  test('a \\r not followed by \\n is part of the line', () => {
    const { assembler, messages } = record({ framing: lines() });
    assembler.push(latin1('a\rb\n\r\r\n\rc\n'));
    expect(texts(messages)).toEqual(['a\rb', '\r', '\rc']);
  });

  test('split at every offset and byte by byte, including between \\r and \\n', () => {
    const stream = latin1('ab\r\n\r\nc\rd\n\nxyz\r\n\r\r\n');
    const expected = reference(stream.toString('latin1')).lines;
    for (let cut = 0; cut <= stream.length; cut++) {
      for (let second = cut; second <= stream.length; second += 3) {
        const { assembler, messages, errors } = record({ framing: lines() });
        pushCut(assembler, stream, [cut, second]);
        expect(errors).toEqual([]);
        expect(texts(messages)).toEqual(expected);
      }
    }
    const { assembler, messages } = record({ framing: lines() });
    pushInChunks(assembler, stream, 1);
    expect(texts(messages)).toEqual(expected);
  });

  test('random streams of \\n, \\r and text, cut at random, match the reference', () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    const next = random(seed);
    try {
      for (let round = 0; round < 200; round++) {
        const alphabet = ['\n', '\r', 'a', 'b', '\r\n'];
        let text = '';
        const size = Math.floor(next() * 60);
        for (let i = 0; i < size; i++) text += alphabet[Math.floor(next() * alphabet.length)] as string;
        const stream = latin1(text);
        const cuts = Array.from({ length: Math.floor(next() * 6) }, () =>
          Math.floor(next() * (stream.length + 1)),
        );
        cuts.sort((x, y) => x - y);
        const { assembler, messages, errors } = record({ framing: lines() });
        pushCut(assembler, stream, cuts);
        expect(errors).toEqual([]);
        const expected = reference(text);
        expect(texts(messages)).toEqual(expected.lines);
        expect(assembler.bufferedBytes).toBe(expected.rest.length);
      }
    } catch (err) {
      throw new Error(`lines() reference check failed with SEED=${seed}: ${String(err)}`, { cause: err });
    }
  });

  test('a line that fits in one read is a view of it; one that spans reads is copied once', () => {
    const chunk = latin1('hello\r\nwor');
    const { assembler, messages } = record({ framing: lines() });
    assembler.push(chunk);
    expect(messages[0]?.buffer).toBe(chunk.buffer);
    assembler.push(latin1('ld\r\n'));
    expect(texts(messages)).toEqual(['hello', 'world']);
  });
});

describe('lines(): limits', () => {
  test('a line past maxMessageSize without its ending is ERR_FRAME_TOO_LARGE as soon as it passes', () => {
    const { assembler, messages, errors } = record({ framing: lines({ maxMessageSize: 8 }) });
    assembler.push(latin1('1234567\n'));
    expect(texts(messages)).toEqual(['1234567']);
    assembler.push(latin1('12345678'));
    expect(errors).toEqual([]);
    assembler.push(latin1('9'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
    expect(errors[0]?.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(assembler.bufferedBytes).toBe(0);
  });

  test('the limit counts the line ending: 7 bytes and \\r\\n do not fit in 8', () => {
    const { assembler, errors } = record({ framing: lines({ maxMessageSize: 8 }) });
    assembler.push(latin1('1234567\r\n'));
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
  });

  test("the owner's maxMessageSize applies when it is smaller", () => {
    const { assembler, errors } = record({ framing: lines(), maxMessageSize: 4 });
    assembler.push(latin1('abcde'));
    expect(errors[0]).toBeInstanceOf(FrameTooLargeError);
  });
});

describe('lines(): encoding', () => {
  test("send() writes '\\n' by default, or '\\r\\n'", () => {
    expect(encodeAll(lines(), [latin1('a'), latin1('')])).toEqual(latin1('a\n\n'));
    expect(lines().eol).toBe('\n');
    expect(encodeAll(lines({ eol: '\r\n' }), [latin1('a'), latin1('b\rc')])).toEqual(latin1('a\r\nb\rc\r\n'));
  });

  test('a line with \\n, or ending with \\r, is a RangeError', () => {
    expect(() => lines().encode(latin1('a\nb'))).toThrow(RangeError);
    expect(() => lines({ eol: '\r\n' }).encode(latin1('ab\r'))).toThrow(
      new RangeError('The line ends with "\\r"; the peer would take it for part of the line ending.'),
    );
  });

  test('misused options are a TypeError', () => {
    expect(() => lines({ eol: '\r' as '\n' })).toThrow(
      new TypeError('The "eol" option must be \'\\n\' or \'\\r\\n\'; got "\\r".'),
    );
    expect(() => lines(null as unknown as object)).toThrow(new TypeError('lines() takes an options object.'));
    expect(() => lines({ maxMessageSize: -1 })).toThrow(TypeError);
  });
});

describe('lines() over TCP', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  function socketTo(port: number): Promise<{ socket: Socket; received: () => string }> {
    return new Promise((resolve, reject) => {
      const socket = resources.socket(connect(port, '127.0.0.1'));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
      socket.on('error', () => {});
      socket.once('connect', () => resolve({ socket, received: () => data }));
      socket.once('error', reject);
    });
  }

  test('mixed endings from many clients are echoed as lines; a too-long line closes only its sender', async () => {
    const server = resources.add(new TcpServer({ framing: lines({ maxMessageSize: 64 }) }), (s) =>
      s.close({ timeout: 500 }),
    );
    const errors: string[] = [];
    server.on('error', (err) => errors.push(err.code));
    server.on('message', (conn, line) => conn.send(Buffer.concat([latin1('echo:'), line])));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

    const clients = await Promise.all(Array.from({ length: 20 }, () => socketTo(port)));
    clients.forEach(({ socket }, i) => {
      // Endings mixed, and each cut between \r and \n.
      socket.write(`a${i}\r`);
      setImmediate(() => socket.write(`\nb${i}\nc${i}\r\n`));
    });
    const hostile = await socketTo(port);
    hostile.socket.write('x'.repeat(100));
    await waitUntil(
      () => clients.every(({ received }) => received().split('\n').length === 4),
      5000,
      'echoes',
    );
    clients.forEach(({ received }, i) => expect(received()).toBe(`echo:a${i}\necho:b${i}\necho:c${i}\n`));
    await waitUntil(() => hostile.socket.destroyed || hostile.socket.readableEnded, 5000, 'hostile closed');
    expect(errors).toEqual(['ERR_FRAME_TOO_LARGE']);
    expect(server.connections.size).toBe(20);
  });
});
