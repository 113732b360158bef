import { KEYS_STREAM } from '../../schemas/streams.ts';
import {
  evolveKeyRegistry,
  initialKeyRegistryState,
  keyRingFromState,
  type KeyRegistryState,
} from '../domain/signing-keys/index.ts';
import type { Logger } from '../logger.ts';
import type { KeyRing } from '../policy/signature.ts';
import type { EventStore } from '../store/port.ts';

export interface KeyRingCacheOptions {
  store: EventStore;
  logger?: Logger;
  /** How often `ledger-keys` is read for changes made by other processes. Default 1 s. */
  pollMs?: number;
}

/**
 * The key ring a serving process checks signatures against: `ledger-keys` read at start, then
 * every second, so registrations and revocations made by any process reach it within `pollMs`
 * (this process's own at once: see {@link refresh}).
 * `current()` is synchronous (the decide path is); `refresh()` reads what the stream holds beyond
 * it, which the command path calls after its own registrations so that the next input already
 * sees the key.
 */
export class KeyRingCache {
  private state: KeyRegistryState = initialKeyRegistryState();
  private ring: KeyRing = keyRingFromState(this.state);
  private waiters: { revision: number; resolve: () => void }[] = [];
  /** Refreshes run one after another: each reads from the revision the last one reached. */
  private reading: Promise<void> = Promise.resolve();
  private following: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: KeyRingCacheOptions) {}

  /** Reads the registry and starts following the log; resolves once the ring is loaded. */
  async start(): Promise<void> {
    await this.refresh();
    this.following = this.follow();
  }

  /** Stops following the log. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.following;
  }

  /** The ring as this process knows it now. */
  current(): KeyRing {
    return this.ring;
  }

  /** Resolves once the ring reflects `ledger-keys` up to `revision` (at least). */
  waitFor(revision: number): Promise<void> {
    if (this.state.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ revision, resolve }));
  }

  /** Reads the events of `ledger-keys` beyond the ring's revision and folds them in. */
  refresh(): Promise<void> {
    const next = this.reading.then(async () => {
      const events = await this.options.store.readStream(KEYS_STREAM, {
        fromRevision: this.state.revision + 1,
      });
      if (events.length === 0) return;
      let state = this.state;
      for (const event of events) {
        // Revisions are consecutive from 0; a read never skips one.
        if (event.revision === state.revision + 1) state = evolveKeyRegistry(state, event);
      }
      this.state = state;
      this.ring = keyRingFromState(state);
      const ready = this.waiters.filter((w) => w.revision <= state.revision);
      this.waiters = this.waiters.filter((w) => w.revision > state.revision);
      for (const waiter of ready) waiter.resolve();
    });
    // A failed read leaves the ring as it was; the next event or refresh tries again.
    this.reading = next.catch(() => undefined);
    return next;
  }

  /**
   * Reads `ledger-keys` beyond the ring every `pollMs`: the stream, not the whole log, so a
   * serving process pays one indexed read a second for it, whatever the traffic.
   */
  private async follow(): Promise<void> {
    const { logger } = this.options;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, this.options.pollMs ?? 1_000);
        signal.addEventListener('abort', done, { once: true });
      });
      if (signal.aborted) return;
      await this.refresh().catch((error: unknown) => {
        logger?.warn({ err: error }, 'reading the signing keys failed; retrying');
      });
    }
  }
}
