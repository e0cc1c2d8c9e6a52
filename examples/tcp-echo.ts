/**
 * TCP echo with the default framing (a 4-byte big-endian length before each payload).
 *
 *   npm run example:tcp-echo
 */
import { TcpClient, TcpServer } from 'sockframe';

async function main(): Promise<void> {
  const server = new TcpServer();
  server.on('message', (conn, message) => {
    // A reply that cannot be written yet: stop reading until it can (backpressure).
    if (!conn.send(message)) {
      conn.pause();
      conn.once('drain', () => conn.resume());
    }
  });
  server.on('error', (err, conn) => console.error(`server: ${err.code} on connection ${conn?.id}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  console.log(`echo server on 127.0.0.1:${port}`);

  const client = new TcpClient({ host: '127.0.0.1', port });
  await client.connect();
  const words = ['hello', 'from', 'sockframe', ''];
  const replies: string[] = [];
  const allBack = new Promise<void>((resolve) => {
    client.on('message', (message) => {
      replies.push(message.toString());
      if (replies.length === words.length) resolve();
    });
  });
  for (const word of words) client.send(word); // one write for the four: sends of a tick are batched
  await allBack;
  console.log('replies:', replies);

  await client.close();
  await server.close();
  if (replies.join(' ') !== words.join(' ')) throw new Error('the echo differs from what was sent');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
