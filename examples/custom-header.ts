/**
 * Your own header, the gosof way. Every message is a 30-byte little-endian header and a JSON body:
 *
 *   offset 0   u32 LE   total length, header included
 *   offset 4   6 bytes  message type, ASCII, padded with spaces ('echo  ', 'reply ')
 *   offset 10  20 bytes free text, UTF-8, padded with zeroes
 *   offset 30  …        JSON body
 *
 * The header-length hook is three lines; messages arrive whole, header included. The client
 * sends 1,000 requests at once and checks every reply.
 *
 *   npm run example:custom-header
 */
import { TcpClient, TcpServer, type LengthFraming } from 'sockframe';

const HEADER_SIZE = 30;

/** The hook: read my own header, say how long the whole message is. */
const myFraming: LengthFraming = {
  headerSize: HEADER_SIZE, // a stated length under 30 is refused with ERR_INVALID_FRAME_LENGTH
  messageLength: (head) => head.readUInt32LE(0),
};

interface Message {
  type: string;
  text: string;
  body: unknown;
}

function encode({ type, text, body }: Message): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const message = Buffer.alloc(HEADER_SIZE + json.length);
  message.writeUInt32LE(message.length, 0);
  message.write(type.padEnd(6, ' ').slice(0, 6), 4, 'ascii');
  message.write(text.slice(0, 20), 10, 20, 'utf8');
  json.copy(message, HEADER_SIZE);
  return message;
}

function decode(message: Buffer): Message {
  const text = message.subarray(10, 30);
  const end = text.indexOf(0);
  return {
    type: message.toString('ascii', 4, 10).trimEnd(),
    text: text.subarray(0, end === -1 ? text.length : end).toString('utf8'),
    body: JSON.parse(message.toString('utf8', HEADER_SIZE)) as unknown,
  };
}

interface Request {
  id: number;
  numbers: number[];
}

async function main(): Promise<void> {
  const server = new TcpServer({ framing: myFraming, maxMessageSize: 64 * 1024 });
  server.on('message', (conn, message) => {
    const request = decode(message);
    if (request.type !== 'echo') return;
    const { id, numbers } = request.body as Request;
    const sum = numbers.reduce((a, b) => a + b, 0);
    conn.send(encode({ type: 'reply', text: `sum for #${id}`, body: { id, sum } }));
  });
  server.on('error', (err) => console.error(`server: ${err.code} ${err.message}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

  const client = new TcpClient({ host: '127.0.0.1', port, framing: myFraming });
  await client.connect();

  const COUNT = 1000;
  const expected = new Map<number, number>();
  let wrong = 0;
  const allReplies = new Promise<void>((resolve) => {
    client.on('message', (message) => {
      const reply = decode(message);
      const { id, sum } = reply.body as { id: number; sum: number };
      if (reply.type !== 'reply' || reply.text !== `sum for #${id}` || expected.get(id) !== sum) wrong++;
      expected.delete(id);
      if (expected.size === 0) resolve();
    });
  });
  for (let id = 0; id < COUNT; id++) {
    const numbers = Array.from({ length: 1 + (id % 50) }, (_, i) => id * i);
    expected.set(
      id,
      numbers.reduce((a, b) => a + b, 0),
    );
    client.send(encode({ type: 'echo', text: `request ${id}`, body: { id, numbers } }));
  }
  await allReplies;
  console.log(`${COUNT} requests, ${COUNT - wrong} correct replies, ${wrong} wrong`);

  await client.close();
  await server.close();
  if (wrong !== 0) throw new Error(`${wrong} wrong replies`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
