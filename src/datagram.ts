import { Buffer } from 'node:buffer';
import {
  DatagramTooLargeError,
  FrameTooLargeError,
  InvalidFrameLengthError,
  type SockframeError,
} from './errors';
import { toBuffer, type Payload } from './payload';
import { MessageAssembler } from './framing/assembler';
import { resolveFraming, type Framing, type FramingOption } from './framing/framing';
import { checkSize, show } from './options';

/** The two UDP socket types. */
export type UdpType = 'udp4' | 'udp6';

/** 65,535 − 20 (IPv4 header) − 8 (UDP header). */
export const MAX_UDP4_DATAGRAM = 65_507;
/** 65,535 − 8 (UDP header): IPv6's payload length does not count its own 40-byte header. */
export const MAX_UDP6_DATAGRAM = 65_527;

/** The largest datagram a socket of this type can send. */
export function maxDatagramSize(type: UdpType): number {
  return type === 'udp6' ? MAX_UDP6_DATAGRAM : MAX_UDP4_DATAGRAM;
}

export function checkUdpType(value: unknown): UdpType {
  if (value !== 'udp4' && value !== 'udp6') {
    throw new TypeError(`The "type" option must be 'udp4' or 'udp6'; got ${show(value)}.`);
  }
  return value;
}

/** A framed outgoing datagram and its size on the wire. */
export interface EncodedDatagram {
  readonly data: Buffer | readonly Buffer[];
  readonly size: number;
}

/**
 * Frames a payload (when there is a framing with an encoder) and checks that the result fits in
 * one datagram; throws ERR_DATAGRAM_TOO_LARGE before anything reaches the socket.
 */
export function encodeDatagram(
  framing: Framing | undefined,
  payload: Payload,
  limit: number,
): EncodedDatagram {
  const buffer = toBuffer(payload);
  const data = framing?.encode ? framing.encode(buffer) : buffer;
  let size = 0;
  if (Buffer.isBuffer(data)) size = data.length;
  else for (const part of data) size += part.length;
  if (size > limit) throw new DatagramTooLargeError(size, limit);
  return { data, size };
}

/**
 * Checks that each datagram holds exactly one whole message under a framing, and cuts it out
 * (header stripped as the framing says). The assembler does the measuring, so a hook's answers
 * are validated exactly as on a stream; it is reset after every datagram, since datagrams are
 * independent.
 */
export class DatagramDecoder {
  private readonly assembler: MessageAssembler;
  private count = 0;
  private last: Buffer | undefined;

  constructor(framing: Framing, maxMessageSize: number) {
    this.assembler = new MessageAssembler({
      framing,
      maxMessageSize,
      onMessage: (message) => {
        this.count++;
        this.last = message;
      },
      // Read back from `assembler.error` after each push.
      onError: () => {},
    });
  }

  /** The one message inside `datagram`, or the error saying why it does not hold exactly one. */
  decode(datagram: Buffer): Buffer | SockframeError {
    this.count = 0;
    this.last = undefined;
    const assembler = this.assembler;
    assembler.push(datagram);
    const failure = assembler.error;
    const leftover = assembler.bufferedBytes;
    const count = this.count;
    // Set by onMessage during push(), which control-flow analysis cannot see.
    const message = this.last as Buffer | undefined;
    this.last = undefined;
    assembler.reset();
    if (failure !== null) return failure;
    if (count === 1 && leftover === 0) return message as Buffer;
    const size = datagram.length;
    if (count === 0) {
      return new InvalidFrameLengthError(
        size === 0
          ? 'Empty datagram: it holds no message'
          : `Datagram of ${size} bytes holds an incomplete message`,
        size,
      );
    }
    return new InvalidFrameLengthError(
      `Datagram of ${size} bytes holds more than one message; each datagram must be exactly one`,
      size,
    );
  }
}

/**
 * What a UDP endpoint does with a received datagram: check its size and, under a framing, that
 * it is exactly one message.
 */
export class DatagramReader {
  private readonly decoder: DatagramDecoder | undefined;
  private readonly maxMessageSize: number;

  constructor(framing: Framing | undefined, maxMessageSize: number) {
    this.maxMessageSize = maxMessageSize;
    this.decoder = framing === undefined ? undefined : new DatagramDecoder(framing, maxMessageSize);
  }

  /** The message to deliver, or the fault for which the datagram is dropped. */
  read(datagram: Buffer): Buffer | SockframeError {
    if (datagram.length > this.maxMessageSize) {
      return new FrameTooLargeError(datagram.length, this.maxMessageSize);
    }
    return this.decoder === undefined ? datagram : this.decoder.decode(datagram);
  }
}

/** SO_RCVBUF and SO_SNDBUF as given to a UDP endpoint, checked; the system's where not given. */
export interface BufferSizes {
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export function checkBufferSizes(options: BufferSizes): BufferSizes {
  const sizes: BufferSizes = {};
  if (options.recvBufferSize !== undefined) {
    sizes.recvBufferSize = checkSize('recvBufferSize', options.recvBufferSize, 0);
  }
  if (options.sendBufferSize !== undefined) {
    sizes.sendBufferSize = checkSize('sendBufferSize', options.sendBufferSize, 0);
  }
  return sizes;
}

/**
 * Resolves the `framing` option of a UDP endpoint. A factory is called once: every datagram is
 * checked on its own, so no framing state ever spans two datagrams.
 */
export function resolveDatagramFraming(option: FramingOption | undefined): Framing | undefined {
  return option === undefined ? undefined : resolveFraming(option);
}
