/**
 * The traffic counters every server's and client's `stats` share. `bytesOut` and `messagesOut`
 * count what send() queued (framing included), written yet or not; `pendingBytes` is what is
 * queued and not yet written: over a UDP socket, handed to it and not yet sent; on a client with
 * `queueWhileDisconnected`, the queue included.
 */
export interface TrafficStats {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly pendingBytes: number;
  /** Faults reported on 'error', by code. */
  readonly errors: Readonly<Record<string, number>>;
}
