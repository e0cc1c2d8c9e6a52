/**
 * UDP echo: datagrams keep their boundaries, so there is no framing unless you ask for one.
 * The server keeps a bounded table of peers (address:port) and expires idle ones.
 *
 *   npm run example:udp-echo
 */
import { UdpClient, UdpServer } from 'sockframe';

async function main(): Promise<void> {
  const server = new UdpServer({ type: 'udp4', peerIdleTimeout: 10_000 });
  server.on('connect', (peer) => console.log(`new peer ${peer.address}:${peer.port}`));
  server.on('message', (peer, message) => peer.send(message));
  server.on('error', (err, peer) => console.error(`server: ${err.code} from ${peer?.address ?? '-'}`));
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  console.log(`echo server on udp 127.0.0.1:${port}`);

  const client = new UdpClient({ type: 'udp4', host: '127.0.0.1', port });
  await client.connect();
  const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
  client.send('hello over UDP');
  console.log('reply:', (await reply).toString());

  // One datagram is at most 65,507 bytes over udp4: more is refused before it reaches the socket.
  try {
    client.send(Buffer.alloc(70_000));
  } catch (err) {
    console.log('a 70,000-byte datagram:', (err as { code?: string }).code);
  }

  await client.close();
  await server.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
