import { createSocket } from 'node:dgram';
import { SocketError, UdpServer } from 'sockframe';
import { Resources, waitUntil } from '../helpers/net';
import { probeLoopbackMulticast } from './udp-helpers';

const resources = new Resources();
afterEach(() => resources.closeAll());

const GROUP = '239.255.77.91';
const multicast = probeLoopbackMulticast(GROUP);
const multicastTest = multicast.ok ? test : test.skip;

multicastTest(
  `a server that joined a group on loopback receives datagrams sent to the group${
    multicast.ok ? '' : ` (skipped: ${multicast.reason})`
  }`,
  async () => {
    const udp = resources.add(new UdpServer({ type: 'udp4', reuseAddr: true }), (s) =>
      s.close({ timeout: 500 }),
    );
    const messages: string[] = [];
    udp.on('message', (_peer, message) => messages.push(message.toString()));
    const { port } = await udp.listen({ port: 0 });
    udp.addMembership(GROUP, '127.0.0.1');
    udp.setMulticastLoopback(true);
    udp.setMulticastTTL(1);
    udp.setMulticastInterface('127.0.0.1');

    const sender = createSocket('udp4');
    resources.add(sender, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
    await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', () => resolve()));
    sender.setMulticastInterface('127.0.0.1');
    sender.setMulticastLoopback(true);
    sender.send('to the group', port, GROUP);
    await waitUntil(() => messages.length === 1, 5000, 'the multicast datagram');
    expect(messages).toEqual(['to the group']);
    expect([...udp.peers.values()][0]).toMatchObject({ address: '127.0.0.1', port: sender.address().port });

    // After leaving the group, datagrams to it no longer arrive (unicast still does).
    udp.dropMembership(GROUP, '127.0.0.1');
    sender.send('after leaving', port, GROUP);
    sender.send('unicast', port, '127.0.0.1');
    await waitUntil(() => messages.length === 2, 5000, 'the unicast datagram');
    expect(messages).toEqual(['to the group', 'unicast']);
  },
);

test('a group that is not a multicast address is refused with ERR_SOCKET', async () => {
  const udp = resources.add(new UdpServer({ type: 'udp4' }), (s) => s.close({ timeout: 500 }));
  await udp.listen({ port: 0, host: '127.0.0.1' });
  let err: unknown;
  try {
    udp.addMembership('127.0.0.1');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SocketError);
  expect(err).toMatchObject({ code: 'ERR_SOCKET', syscallCode: 'EINVAL' });
});
