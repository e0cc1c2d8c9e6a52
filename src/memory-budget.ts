import { MemoryBudgetError } from './errors';

/** What a budget can ask to give its memory back: a connection. */
export interface BudgetHolder {
  /** Bytes of this holder counted against the budget. */
  readonly heldBytes: number;
  /** Cut off for holding the most when the budget ran out; its charges are then returned. */
  overBudget(err: MemoryBudgetError): void;
}

/**
 * One server's bound on the memory its connections hold: bytes of incomplete inbound messages
 * and unsent outbound data. Holders charge and refund as their holdings change; when the total
 * passes the limit, the holder with the most is cut off, and so on until the total is back under
 * it, so one hostile peer (or a thousand) cannot make the server hold more than the limit, and
 * everyone else keeps being served.
 */
export class MemoryBudget {
  /** Bytes charged now. */
  used = 0;
  /** Holders with a charge. */
  private readonly holders = new Set<BudgetHolder>();
  private enforcing = false;

  constructor(readonly limit: number) {}

  /** `holder`'s holdings changed by `delta` bytes (to `heldBytes` in all). */
  charge(holder: BudgetHolder, delta: number): void {
    this.used += delta;
    if (holder.heldBytes > 0) this.holders.add(holder);
    else this.holders.delete(holder);
    if (this.used > this.limit && !this.enforcing) this.enforce();
  }

  private enforce(): void {
    this.enforcing = true;
    try {
      while (this.used > this.limit) {
        let most: BudgetHolder | undefined;
        for (const holder of this.holders)
          if (most === undefined || holder.heldBytes > most.heldBytes) most = holder;
        if (most === undefined) break;
        // The holder returns its charges as it is cut off; drop it in any case, so this ends.
        this.holders.delete(most);
        most.overBudget(new MemoryBudgetError(most.heldBytes, this.used, this.limit));
      }
    } finally {
      this.enforcing = false;
    }
  }
}
