import { WRITE_HIGH_WATER_MARK } from './payload';

/** Datagrams a close timeout left unsettled, and their bytes. */
export interface Unsettled {
  readonly datagrams: number;
  readonly bytes: number;
}

/**
 * What one UDP socket was handed and has not reported sent: the datagrams and their bytes, the
 * senders (a client, the peers of a server) whose send() returned false and are owed a 'drain',
 * and the wait of a close for all of it to settle. Counted from the send callbacks rather than
 * asked of getSendQueueSize(), which Deno's node:dgram lacks and which Node leaves at 0 while a
 * datagram waits for its address lookup.
 */
export class SendWindow<Sender> {
  private datagrams = 0;
  private bytes = 0;
  private readonly owed = new Set<Sender>();
  private settled: (() => void) | undefined = undefined;

  /** Bytes handed to the socket whose send callback has not run yet. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** A datagram of `size` bytes was handed to the socket. */
  sent(size: number): void {
    this.datagrams++;
    this.bytes += size;
  }

  /** send()'s answer to `sender` once its datagram is handed over: false past the high-water mark, and a 'drain' is then owed to it. */
  answer(sender: Sender): boolean {
    if (this.bytes < WRITE_HIGH_WATER_MARK) return true;
    this.owed.add(sender);
    return false;
  }

  /**
   * The callback of a datagram of `size` bytes ran. Returns the senders owed a 'drain' when the
   * bytes in flight have fallen back under the high-water mark (they are owed nothing more).
   */
  done(size: number): Sender[] | undefined {
    this.datagrams--;
    this.bytes -= size;
    let due: Sender[] | undefined;
    if (this.owed.size > 0 && this.bytes < WRITE_HIGH_WATER_MARK) {
      due = [...this.owed];
      this.owed.clear();
    }
    if (this.datagrams === 0) this.settled?.();
    return due;
  }

  /** `sender` is gone: it is owed nothing. */
  forget(sender: Sender): void {
    this.owed.delete(sender);
  }

  /**
   * Resolves once every datagram handed over has settled (with nothing left), or after
   * `timeout` ms with what was still in flight then.
   */
  settle(timeout: number): Promise<Unsettled> {
    if (this.datagrams === 0) return Promise.resolve({ datagrams: 0, bytes: 0 });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.settled = undefined;
        resolve({ datagrams: this.datagrams, bytes: this.bytes });
      }, timeout);
      this.settled = () => {
        clearTimeout(timer);
        this.settled = undefined;
        resolve({ datagrams: 0, bytes: 0 });
      };
    });
  }
}
