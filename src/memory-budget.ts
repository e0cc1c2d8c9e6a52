import { MemoryBudgetError } from './errors';

/** What a budget can cut off to get its memory back: a connection, through its public destroy(). */
export interface BudgetHolder {
  destroy(err: MemoryBudgetError): void;
}

/**
 * One server's bound on the memory its connections hold: bytes of incomplete inbound messages
 * and unsent outbound data. Holders say what they hold as it changes; when the total passes the
 * limit, the holder with the most is cut off, and so on until the total is back under it, so one
 * hostile peer (or a thousand) cannot make the server hold more than the limit, and everyone else
 * keeps being served. The budget keeps the holdings itself: a holder needs no counter for it.
 */
export class MemoryBudget {
  /** Bytes held now. */
  used = 0;
  /** Holders holding something, and how much. */
  private readonly holdings = new Map<BudgetHolder, number>();
  private enforcing = false;

  constructor(readonly limit: number) {}

  /** `holder` holds `bytes` now (0: nothing). */
  hold(holder: BudgetHolder, bytes: number): void {
    const before = this.holdings.get(holder) ?? 0;
    if (bytes === before) return;
    this.used += bytes - before;
    if (bytes > 0) this.holdings.set(holder, bytes);
    else this.holdings.delete(holder);
    if (this.used > this.limit && !this.enforcing) this.enforce();
  }

  private enforce(): void {
    this.enforcing = true;
    try {
      while (this.used > this.limit) {
        let most: BudgetHolder | undefined;
        let mostBytes = 0;
        for (const [holder, bytes] of this.holdings) {
          if (bytes > mostBytes) {
            most = holder;
            mostBytes = bytes;
          }
        }
        if (most === undefined) break;
        most.destroy(new MemoryBudgetError(mostBytes, this.used, this.limit));
        // The holder gives its holdings back as it is cut off; they are dropped in any case, so this ends.
        const left = this.holdings.get(most);
        if (left !== undefined) {
          this.used -= left;
          this.holdings.delete(most);
        }
      }
    } finally {
      this.enforcing = false;
    }
  }
}
