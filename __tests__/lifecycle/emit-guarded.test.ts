/**
 * The guarded emit against node:events' own emit(): seeded random programs of listeners (on,
 * once, prepended) that, while being called, add and remove listeners and throw. Each program
 * runs on two emitters, one through emit() and one through the guarded emit, and the calls made
 * must be the same, in the same order, with the same listeners left afterwards.
 */
import { EventEmitter } from 'node:events';
import { emitGuarded, type FaultSink } from '../../src/dispatch';
import { prng } from '../helpers/random';

type Step =
  | { kind: 'on' | 'once' | 'prependOn' | 'prependOnce'; id: number }
  | { kind: 'off'; id: number }
  | { kind: 'emit' };

/** What listener `id` does when called: the same on both emitters. */
interface Behaviour {
  adds: number[];
  removes: number[];
  throws: boolean;
}

function program(seed: number): { steps: Step[]; behaviour: Map<number, Behaviour> } {
  const random = prng(seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const behaviour = new Map<number, Behaviour>();
  const ids = 12;
  for (let id = 0; id < ids; id++) {
    behaviour.set(id, {
      adds: random() < 0.2 ? [pick(ids)] : [],
      removes: random() < 0.25 ? [pick(ids), pick(ids)].slice(0, 1 + pick(2)) : [],
      throws: random() < 0.08,
    });
  }
  const kinds = ['on', 'once', 'prependOn', 'prependOnce', 'off'] as const;
  const steps: Step[] = [];
  for (let i = 0; i < 40; i++) {
    if (random() < 0.35) steps.push({ kind: 'emit' });
    else steps.push({ kind: kinds[pick(kinds.length)] as (typeof kinds)[number], id: pick(ids) });
  }
  return { steps, behaviour };
}

/** Runs a program; `emit` is the dispatch under test. Returns every call and what was left. */
function run(
  seed: number,
  emit: (emitter: EventEmitter, args: unknown[]) => void,
  dropTable: boolean,
): string[] {
  const { steps, behaviour } = program(seed);
  const emitter = new EventEmitter();
  // Listeners pile up in a random program; the leak warning would only be noise here.
  emitter.setMaxListeners(0);
  if (dropTable) (emitter as unknown as { _events: undefined })._events = undefined;
  const log: string[] = [];
  const listeners = new Map<number, (...args: unknown[]) => void>();
  const listenerOf = (id: number): ((...args: unknown[]) => void) => {
    let listener = listeners.get(id);
    if (listener === undefined) {
      listener = function (this: unknown, ...args: unknown[]): void {
        log.push(`call ${id} ${args.join(',')} this=${this === emitter}`);
        const what = behaviour.get(id) as Behaviour;
        // Bounded: a listener adding one on every call would double the list with every emit.
        for (const other of what.adds) {
          if (emitter.listenerCount('event') < 24) emitter.on('event', listenerOf(other));
        }
        for (const other of what.removes) emitter.off('event', listenerOf(other));
        if (what.throws) throw new Error(`listener ${id}`);
      };
      listeners.set(id, listener);
    }
    return listener;
  };
  let emits = 0;
  for (const step of steps) {
    if (step.kind === 'emit') {
      emits++;
      try {
        emit(emitter, [emits, 'x']);
      } catch (err) {
        log.push(`threw ${(err as Error).message}`);
      }
      continue;
    }
    const listener = listenerOf(step.id);
    if (step.kind === 'off') emitter.off('event', listener);
    else if (step.kind === 'on') emitter.on('event', listener);
    else if (step.kind === 'once') emitter.once('event', listener);
    else if (step.kind === 'prependOn') emitter.prependListener('event', listener);
    else emitter.prependOnceListener('event', listener);
    if (dropTable && emitter.listenerCount('event') === 0) {
      (emitter as unknown as { _events: undefined })._events = undefined;
    }
  }
  log.push(`left ${emitter.listenerCount('event')}`);
  return log;
}

const viaEmit = (emitter: EventEmitter, args: unknown[]): void => {
  emitter.emit('event', ...args);
};

const viaGuarded = (emitter: EventEmitter, args: unknown[]): void => {
  let fault: unknown;
  const sink: FaultSink = { listenerFault: (thrown) => (fault = thrown) };
  // node:events types its listeners as Function; the guarded emit takes callable ones.
  const completed = emitGuarded(emitter as unknown as Parameters<typeof emitGuarded>[0], 'event', args, sink);
  // A throwing listener stops the rest, as emit() would; the fault goes to the sink.
  if (!completed) throw fault;
};

describe('the guarded emit', () => {
  const seeds = Array.from({ length: 200 }, (_, i) => 0x5eed + i * 7919);

  test('calls what emit() calls, in order, over 200 seeded programs', () => {
    let calls = 0;
    let throwsSeen = 0;
    for (const seed of seeds) {
      const expected = run(seed, viaEmit, false);
      expect({ seed, log: run(seed, viaGuarded, false) }).toEqual({ seed, log: expected });
      calls += expected.filter((line) => line.startsWith('call')).length;
      throwsSeen += expected.filter((line) => line.startsWith('threw')).length;
    }
    // The programs do exercise what they are for.
    expect(calls).toBeGreaterThan(1000);
    expect(throwsSeen).toBeGreaterThan(20);
  });

  test('the same on an emitter whose empty listener table was dropped', () => {
    for (const seed of seeds.slice(0, 50)) {
      expect({ seed, log: run(seed, viaGuarded, true) }).toEqual({ seed, log: run(seed, viaEmit, false) });
    }
  });

  test('an emitter without a listener table is served through its public methods', () => {
    const calls: unknown[][] = [];
    const listener = (...args: unknown[]): void => {
      calls.push(args);
    };
    const source = {
      listenerCount: (event: string) => (event === 'event' ? 2 : 0),
      rawListeners: (event: string) => (event === 'event' ? [listener, listener] : []),
    };
    const sink: FaultSink = { listenerFault: () => calls.push(['fault']) };
    expect(emitGuarded(source, 'event', [1], sink)).toBe(true);
    expect(emitGuarded(source, 'other', [2], sink)).toBe(true);
    expect(calls).toEqual([[1], [1]]);
  });
});
