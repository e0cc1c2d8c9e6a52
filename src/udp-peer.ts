import { TypedEmitter } from 'tiny-typed-emitter';
import type { CloseReason } from './close-reason';
import type { Payload } from './payload';
import type { ServerPeer } from './peer';

/** Counters of one UDP peer. */
export interface UdpPeerStats {
  /** Bytes of every datagram received from the peer, rejected ones included. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Messages delivered to the 'message' listeners. */
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Datagrams dropped as too large or, under a framing, not exactly one message. */
  readonly rejected: number;
  /** When the first datagram arrived (ms since the epoch). */
  readonly connectedAt: number;
  /** When the last datagram arrived (ms since the epoch); the peer expires from it. */
  readonly lastSeenAt: number;
}

/** @internal What a peer asks of the server it belongs to. */
export interface UdpPeerOwner<Data> {
  sendTo(peer: UdpPeer<Data>, payload: Payload): boolean;
  closePeer(peer: UdpPeer<Data>, reason: CloseReason): void;
}

/** The events of a UDP peer (its faults are the server's 'error' events). */
export interface UdpPeerEvents {
  /** The server's send window fell back under the high-water mark after send() returned false. */
  drain: () => void;
}

/** The table key of an address and port; IPv6 addresses are bracketed. */
export function peerKey(address: string, port: number, family: string): string {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * One remote address:port that sent datagrams to a UdpServer. It lives in the server's peer
 * table from its first datagram until it is idle for `peerIdleTimeout`, is closed, or the server
 * closes. Faults are reported by the server's 'error' event as `(err, peer)`.
 */
export class UdpPeer<Data = unknown> extends TypedEmitter<UdpPeerEvents> implements ServerPeer {
  /** `address:port` (`[address]:port` for IPv6): unique in its server's table. */
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  /** A slot for the application's own per-peer state. */
  data: Data | undefined = undefined;

  private readonly owner: UdpPeerOwner<Data>;
  private open = true;
  private bytesIn = 0;
  private bytesOut = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private rejected = 0;
  private readonly connectedAt: number;
  private seenAt: number;

  /** @internal Created by UdpServer; not constructed by users. */
  constructor(owner: UdpPeerOwner<Data>, address: string, port: number, family: string, now: number) {
    super();
    this.owner = owner;
    this.address = address;
    this.port = port;
    this.family = family === 'IPv6' ? 'IPv6' : 'IPv4';
    this.id = peerKey(address, port, this.family);
    this.connectedAt = now;
    this.seenAt = now;
  }

  /** True until the peer expires, is closed, or its server closes. */
  get isOpen(): boolean {
    return this.open;
  }

  get stats(): UdpPeerStats {
    return {
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      rejected: this.rejected,
      connectedAt: this.connectedAt,
      lastSeenAt: this.seenAt,
    };
  }

  /**
   * Sends one datagram to the peer, framed by the server's framing when it has an encoder.
   * Throws ERR_DATAGRAM_TOO_LARGE when the datagram would not fit, and ERR_NOT_CONNECTED once
   * the peer is closed. Returns false when more than 256 KiB sent by the server have not left its
   * socket yet: the caller should wait for this peer's 'drain'.
   */
  send(payload: Payload): boolean {
    return this.owner.sendTo(this, payload);
  }

  /** Forgets the peer: 'close' is emitted with `{ kind: 'closed' }`. Its next datagram makes a new peer. */
  close(): void {
    if (this.open) this.owner.closePeer(this, { kind: 'closed' });
  }

  /** @internal */
  get lastSeenAt(): number {
    return this.seenAt;
  }

  /** @internal A datagram arrived. */
  noteReceived(bytes: number, now: number): void {
    this.bytesIn += bytes;
    this.seenAt = now;
  }

  /** @internal A message was delivered. */
  noteDelivered(): void {
    this.messagesIn++;
  }

  /** @internal A datagram was dropped. */
  noteRejected(): void {
    this.rejected++;
  }

  /** @internal A datagram was handed to the socket. */
  noteSent(bytes: number): void {
    this.bytesOut += bytes;
    this.messagesOut++;
  }

  /** @internal The peer left the table. */
  markClosed(): void {
    this.open = false;
  }
}
