#!/usr/bin/env python3
"""An independent peer for sockframe's interop tests, written with Python's standard library only.

It speaks each wire format from its own definition (Netty's LengthFieldBasedFrameDecoder rules,
protobuf varints, LineBasedFrameDecoder lines), never from sockframe's code. The test driver gives
the case as JSON on stdin; the peer prints one JSON line when it is ready ({"port": n} or
{"ready": true}) and one when it is done ({"received": [...hex...], ...}), then exits.

Modes:
  serve-stream  listen (tcp4, tcp6, unix path or abstract name, optionally TLS), accept one
                connection, send the case's frames cut at random points, read as many frames
                back, report them.
  half-close    connect to a stream server (TCP, optionally TLS, or a Unix path / abstract name), send the frames, shut down
                writing (FIN; not over TLS), read the answers (and the server's end), report them.
  udp-echo      bind a UDP socket, echo every datagram, stop after the case's count.
  udp-send      send the case's datagrams to a UDP server and report the echoes.
"""
import json
import random
import socket
import ssl
import struct
import sys


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- codecs


class LengthField:
    """Netty's layout: [offset bytes][length field][rest]; frame = offset + size + adjust + value."""

    def __init__(self, layout):
        self.offset = layout["offset"]
        self.size = layout["size"]
        self.adjust = layout["adjust"]
        self.strip = layout["strip"]
        self.big = layout["endian"] == "big"
        self.magic = bytes.fromhex(layout["magic"])  # the frame's first bytes, zeroes on the field
        self.header_size = self.offset + self.size
        self.buffer = b""

    def field_bytes(self, value):
        order = "big" if self.big else "little"
        return value.to_bytes(self.size, order)

    def encode(self, body):
        frame = bytearray(self.magic) + body
        value = len(frame) - self.header_size - self.adjust
        frame[self.offset : self.header_size] = self.field_bytes(value)
        return bytes(frame)

    def feed(self, data):
        """Whole frames decoded from the stream so far; checks every magic byte."""
        self.buffer += data
        frames = []
        while len(self.buffer) >= self.header_size:
            raw = self.buffer[self.offset : self.header_size]
            value = int.from_bytes(raw, "big" if self.big else "little")
            length = self.header_size + self.adjust + value
            if len(self.buffer) < length:
                break
            frame, self.buffer = self.buffer[:length], self.buffer[length:]
            for i, expected in enumerate(self.magic):
                if self.offset <= i < self.header_size or i >= len(frame):
                    continue
                if frame[i] != expected:
                    raise ValueError("bad magic at byte %d: %02x, expected %02x" % (i, frame[i], expected))
            frames.append(frame)
        return frames


class Varint:
    def __init__(self):
        self.buffer = b""

    def encode(self, body):
        n = len(body)
        prefix = bytearray()
        while n >= 0x80:
            prefix.append((n & 0x7F) | 0x80)
            n >>= 7
        prefix.append(n)
        return bytes(prefix) + body

    def feed(self, data):
        self.buffer += data
        frames = []
        while True:
            value, shift, i = 0, 0, 0
            while i < len(self.buffer):
                byte = self.buffer[i]
                value |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if byte < 0x80:
                    break
            else:
                return frames
            if len(self.buffer) < i + value:
                return frames
            frames.append(self.buffer[: i + value])
            self.buffer = self.buffer[i + value :]


class Lines:
    """LineBasedFrameDecoder: a line ends at \\n or \\r\\n. The encoder mixes both at random."""

    def __init__(self, rng):
        self.rng = rng
        self.buffer = b""

    def encode(self, body):
        return body + (b"\r\n" if self.rng.random() < 0.5 else b"\n")

    def feed(self, data):
        self.buffer += data
        frames = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            frames.append(line[:-1] if line.endswith(b"\r") else line)
        return frames


def codec_for(case, rng):
    kind = case["framing"]
    if kind == "lengthField":
        return LengthField(case["layout"])
    if kind == "varint":
        return Varint()
    if kind == "lines":
        return Lines(rng)
    raise ValueError("unknown framing " + kind)


def delivered(case, frame):
    """What the receiving application gets from a frame: Netty strips `strip` bytes."""
    if case["framing"] == "lengthField":
        return frame[case["layout"]["strip"] :]
    if case["framing"] == "varint":
        i = 0
        while frame[i] >= 0x80:
            i += 1
        return frame[i + 1 :]
    return frame


# ---------------------------------------------------------------- streams


def send_cut(sock, data, rng):
    """Sends `data` cut at random points, each piece on its own (TCP_NODELAY where it applies)."""
    at = 0
    while at < len(data):
        n = rng.choice([1, 1, 2, 3, 7, 64, 1000, len(data)])
        sock.sendall(data[at : at + n])
        at += n


def exchange(sock, case, rng):
    codec = codec_for(case, rng)
    bodies = [bytes.fromhex(h) for h in case["bodies"]]
    wire = b"".join(codec.encode(body) for body in bodies)
    send_cut(sock, wire, rng)
    if case.get("halfClose"):
        sock.shutdown(socket.SHUT_WR)
    received = []
    expect = case["expect"]
    while len(received) < expect:
        data = sock.recv(65536)
        if not data:
            break
        received.extend(delivered(case, f).hex() for f in codec.feed(data))
    eof = False
    if case.get("halfClose"):
        eof = sock.recv(1) == b""
    return {"received": received, "eof": eof}


def listener(case):
    transport = case.get("transport", "tcp4")
    if transport == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        name = case["path"]
        if name.startswith("\0") and case.get("padAbstract"):
            name = name.ljust(108, "\0")
        sock.bind(name)
        return sock, {"ready": True}
    family = socket.AF_INET6 if transport == "tcp6" else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    return sock, {"port": sock.getsockname()[1]}


def serve_stream(case, rng):
    sock, ready = listener(case)
    sock.listen(1)
    sock.settimeout(case.get("timeout", 10))
    out(ready)
    conn, _ = sock.accept()
    conn.settimeout(case.get("timeout", 10))
    if conn.family != socket.AF_UNIX:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if case.get("tls"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(case["tls"]["cert"], case["tls"]["key"])
        conn = context.wrap_socket(conn, server_side=True)
        result = exchange(conn, case, rng)
        result["tlsVersion"] = conn.version()
    else:
        result = exchange(conn, case, rng)
    conn.close()
    sock.close()
    return result


def half_close(case, rng):
    if "path" in case:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(case.get("timeout", 10))
        name = case["path"]
        if name.startswith("\0") and case.get("padAbstract"):
            name = name.ljust(108, "\0")
        sock.connect(name)
    else:
        sock = socket.create_connection(("127.0.0.1", case["port"]), timeout=case.get("timeout", 10))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if case.get("tlsClient"):
        # SSLSocket.shutdown() would drop the TLS layer: over TLS the peer does not half-close.
        context = ssl.create_default_context(cafile=case["tlsClient"]["ca"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
    else:
        case["halfClose"] = True
    result = exchange(sock, case, rng)
    sock.close()
    return result


# ---------------------------------------------------------------- datagrams


def udp_family(case):
    return (socket.AF_INET6, "::1") if case["type"] == "udp6" else (socket.AF_INET, "127.0.0.1")


def udp_echo(case, rng):
    family, host = udp_family(case)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((host, 0))
    sock.settimeout(case.get("timeout", 10))
    out({"port": sock.getsockname()[1]})
    sizes = []
    for _ in range(case["expect"]):
        data, peer = sock.recvfrom(65535)
        sizes.append(len(data))
        sock.sendto(data, peer)
    sock.close()
    return {"sizes": sizes}


def udp_send(case, rng):
    family, host = udp_family(case)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.settimeout(case.get("timeout", 10))
    echoed = []
    for size in case["sizes"]:
        payload = bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1)
        payload = payload[:size]
        sock.sendto(payload, (host, case["port"]))
        data, _ = sock.recvfrom(65535)
        echoed.append({"size": len(data), "same": data == payload})
    sock.close()
    return {"echoed": echoed}


def main():
    case = json.loads(sys.stdin.readline())
    rng = random.Random(case.get("seed", 0))
    mode = case["mode"]
    try:
        result = {
            "serve-stream": serve_stream,
            "half-close": half_close,
            "udp-echo": udp_echo,
            "udp-send": udp_send,
        }[mode](case, rng)
        out(dict(result, done=True))
    except Exception as err:  # reported to the test, which fails with it
        out({"done": True, "error": "%s: %s" % (type(err).__name__, err)})
        sys.exit(1)


if __name__ == "__main__":
    main()
