import {
  UdpClient,
  UdpServer,
  type CloseReason,
  type DropInfo,
  type SockframeError,
  type UdpPeer,
  type UdpServerOptions,
} from 'sockframe';

// These checks run in `npm run typecheck`: each @ts-expect-error line must fail to compile, or
// the type check fails. The runtime part only makes sure the well-typed code also runs.

test('events, peers and options are typed', async () => {
  const udp = new UdpServer<{ user: string }>({ type: 'udp4' });
  udp.on('connect', (peer) => {
    peer.data = { user: 'ada' };
    // @ts-expect-error the data slot has the server's Data type
    peer.data = { user: 42 };
  });
  udp.on('message', (peer: UdpPeer<{ user: string }>, message: Buffer) => {
    const family: 'IPv4' | 'IPv6' = peer.family;
    void family;
    peer.send(message);
    // @ts-expect-error send() takes a Buffer, Uint8Array or string
    peer.send(42);
  });
  udp.on('close', (_peer, reason: CloseReason) => void reason.kind);
  udp.on(
    'error',
    (err: SockframeError, peer: UdpPeer<{ user: string }> | undefined) => void [err.code, peer],
  );
  udp.on('drop', (info: DropInfo) => void info.reason);
  // @ts-expect-error no such event
  udp.on('datagram', () => {});
  // @ts-expect-error a message listener gets (peer, message), not a string
  udp.on('message', (_peer: UdpPeer<{ user: string }>, message: string) => void message);
  // @ts-expect-error 'close' gives a reason object
  udp.on('close', (_peer: UdpPeer<{ user: string }>, reason: string) => void reason);

  // @ts-expect-error type is required
  const noType: UdpServerOptions = {};
  void noType;
  // @ts-expect-error only udp4 and udp6
  void (() => new UdpServer({ type: 'tcp' }));
  // @ts-expect-error maxPeers is a number
  void (() => new UdpServer({ type: 'udp4', maxPeers: '10' }));

  const client = new UdpClient({ type: 'udp6', host: '::1', port: 9 });
  client.on('message', (message: Buffer) => void message);
  // @ts-expect-error a client's message listener gets only the message
  client.on('message', (_peer: UdpPeer, message: Buffer) => void message);
  // @ts-expect-error port is required
  void (() => new UdpClient({ type: 'udp4', host: 'localhost' }));
  const sent: boolean = (() => {
    try {
      return client.send('x');
    } catch {
      return false;
    }
  })();
  expect(sent).toBe(false);
  expect(udp.listening).toBe(false);
  await udp.close();
  await client.close();
});
