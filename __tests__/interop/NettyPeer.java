// A peer built on Netty's own codecs (LengthFieldBasedFrameDecoder, LengthFieldPrepender), run
// over a plain java.net socket through an EmbeddedChannel. Input on stdin, one item a line:
//   offset size adjust strip endian expect
//   hex body to frame with LengthFieldPrepender (offset 0 layouts only), one a line
// It prints {"port": n}, accepts one connection, sends the framed bodies, decodes `expect`
// frames with the decoder, prints {"received": [hex of each decoded frame], "done": true}.
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

public final class NettyPeer {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
    String[] p = in.readLine().trim().split(" ");
    int offset = Integer.parseInt(p[0]);
    int size = Integer.parseInt(p[1]);
    int adjust = Integer.parseInt(p[2]);
    int strip = Integer.parseInt(p[3]);
    ByteOrder order = p[4].equals("big") ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
    int expect = Integer.parseInt(p[5]);
    List<byte[]> bodies = new ArrayList<>();
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      bodies.add(ByteBufUtil.decodeHexDump(line.trim()));
    }
    try (ServerSocket listener = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      System.out.println("{\"port\": " + listener.getLocalPort() + "}");
      System.out.flush();
      listener.setSoTimeout(10000);
      try (Socket socket = listener.accept()) {
        socket.setSoTimeout(10000);
        socket.setTcpNoDelay(true);
        OutputStream output = socket.getOutputStream();
        if (offset == 0) {
          // The decoder's adjustment is what the prepender must take away.
          EmbeddedChannel encoder = new EmbeddedChannel(new LengthFieldPrepender(order, size, -adjust, false));
          for (byte[] body : bodies) {
            encoder.writeOutbound(Unpooled.wrappedBuffer(body));
            for (ByteBuf out = encoder.readOutbound(); out != null; out = encoder.readOutbound()) {
              byte[] bytes = ByteBufUtil.getBytes(out);
              out.release();
              output.write(bytes);
            }
          }
          output.flush();
        }
        EmbeddedChannel decoder = new EmbeddedChannel(
            new LengthFieldBasedFrameDecoder(order, 1 << 24, offset, size, adjust, strip, true));
        StringBuilder received = new StringBuilder();
        int count = 0;
        InputStream input = socket.getInputStream();
        byte[] chunk = new byte[65536];
        while (count < expect) {
          int n = input.read(chunk);
          if (n < 0) break;
          decoder.writeInbound(Unpooled.copiedBuffer(chunk, 0, n));
          for (ByteBuf frame = decoder.readInbound(); frame != null; frame = decoder.readInbound()) {
            if (count++ > 0) received.append(", ");
            received.append('"').append(ByteBufUtil.hexDump(frame)).append('"');
            frame.release();
          }
        }
        System.out.println("{\"received\": [" + received + "], \"done\": true}");
      }
    }
  }
}
