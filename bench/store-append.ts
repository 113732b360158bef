import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { missionStream } from '../schemas/streams.ts';
import { openStore } from '../src/store/open-store.ts';
import { appendStatement } from '../src/store/sql/append-statement.ts';
import type { NewEvent } from '../src/store/port.ts';
import {
  BENCH_PG_URL,
  fmt,
  machineDescription,
  measure,
  writeSection,
  type Measurement,
} from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = [1, 8, 32];

/** A realistic lifecycle callback (seed 002 section 3), about 600 bytes as JSON. */
function callbackEvent(worker: number, seq: number): NewEvent {
  return {
    type: 'mission.progress',
    data: {
      mission_id: `msn-${worker}-${seq}`,
      vp_id: 'vp.coder.primary',
      vp_session_id: 'ses_V1StGXR8Z5jdHi6B',
      vp_runtime_id: 'lane-coder-1',
      event_type: 'mission.progress',
      status: 'running',
      summary:
        'Refactored the billing adapter; 14 of 20 tests green, continuing with the retry path.',
      artifact_refs: [
        's3://factory-a/msn/diff-0007.patch',
        's3://factory-a/msn/test-report-0007.json',
      ],
      usage: { runtime_minutes: 42.5, llm_calls: 117, estimated_cost_usd: 3.81 },
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      idempotency_key: `cb-${worker}-${seq}`,
      emitted_at: '2026-11-22T02:13:00.000Z',
    },
    metadata: {
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      idempotency_key: `cb-${worker}-${seq}`,
      actor: 'factory:instance-a',
    },
  };
}

/** The store's row shape, without the store: what raw pg writes for the baselines. */
const RAW_TABLE = `
  create table events (
    position int8 primary key, event_id uuid not null unique, stream_id text not null,
    revision int8 not null, type text not null, data json not null, metadata json not null,
    idempotency_key text, unique (stream_id, revision));
  create unique index on events (stream_id, idempotency_key) where idempotency_key is not null;`;

function rawRow(worker: number, seq: number, offset: number): unknown[] {
  const event = callbackEvent(worker, seq);
  return [
    worker * 1e9 + seq + offset,
    randomUUID(),
    `raw-${worker}-${seq}-${offset}`,
    0,
    event.type,
    JSON.stringify(event.data),
    JSON.stringify({ ...event.metadata, recorded_at: new Date().toISOString() }),
    `${worker}-${seq}-${offset}`,
  ];
}

async function withSchema<T>(admin: pg.Client, fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = `bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  await admin.query(`create schema ${schema}`);
  try {
    return await fn(schema);
  } finally {
    await admin.query(`drop schema ${schema} cascade`);
  }
}

/** A pool of `concurrency` connections on a fresh schema holding the raw baseline table. */
async function withRawTable<T>(
  admin: pg.Client,
  concurrency: number,
  fn: (pool: pg.Pool) => Promise<T>,
): Promise<T> {
  return withSchema(admin, async (schema) => {
    const pool = new pg.Pool({
      connectionString: BENCH_PG_URL,
      max: concurrency,
      options: `-c search_path=${schema}`,
    });
    try {
      await pool.query(RAW_TABLE);
      return await fn(pool);
    } finally {
      await pool.end();
    }
  });
}

async function rawSingleRow(admin: pg.Client, concurrency: number): Promise<Measurement> {
  return withRawTable(admin, concurrency, (pool) => {
    const sql = 'insert into events values ($1, $2, $3, $4, $5, $6, $7, $8)';
    return measure(
      `raw pg single-row INSERT, c=${concurrency}`,
      concurrency,
      SECONDS,
      async (w, s) => {
        await pool.query(sql, rawRow(w, s, 0));
      },
    );
  });
}

/** `insert into events values ($1, ..., $8), ...` for `rows` rows of the baseline shape. */
function multiRowInsert(rows: number): string {
  const placeholders = Array.from(
    { length: rows },
    (_, r) => `(${Array.from({ length: 8 }, (_, c) => `$${r * 8 + c + 1}`).join(', ')})`,
  ).join(', ');
  return `insert into events values ${placeholders}`;
}

async function rawBatch(admin: pg.Client, concurrency: number): Promise<Measurement> {
  const rows = 100;
  const sql = multiRowInsert(rows);
  return withRawTable(admin, concurrency, (pool) =>
    measure(`raw pg 100-rows-per-INSERT, c=${concurrency}`, concurrency, SECONDS, async (w, s) => {
      const values = Array.from({ length: rows }, (_, r) => rawRow(w, s, r * 1e6)).flat();
      await pool.query(sql, values);
      return rows;
    }),
  );
}

async function storeAppends(admin: pg.Client, concurrency: number): Promise<Measurement> {
  return withSchema(admin, async (schema) => {
    const url = new URL(BENCH_PG_URL);
    url.searchParams.set('schema', schema);
    const store = await openStore(url.toString());
    const m = await measure(
      `store.append, c=${concurrency}`,
      concurrency,
      SECONDS,
      async (w, s) => {
        await store.append(missionStream(`${w}-${s}`), [callbackEvent(w, s)], {
          expectedRevision: 'no_stream',
        });
      },
    );
    await store.close();
    return m;
  });
}

/**
 * The ceiling of the serialised writer: the store's own append statement (append-statement.ts),
 * as a named prepared statement, called back to back on one connection with 32 events per call
 * and the arguments built beforehand, so no client work sits between calls. No client-side
 * improvement can push store.append past this rate.
 */
async function serverCeiling(admin: pg.Client): Promise<Measurement> {
  return withSchema(admin, async (schema) => {
    const url = new URL(BENCH_PG_URL);
    url.searchParams.set('schema', schema);
    await (await openStore(url.toString())).close();
    const client = new pg.Client({ connectionString: BENCH_PG_URL });
    await client.connect();
    const batch = 32;
    const text = appendStatement(schema);
    const recordedAt = new Date().toISOString();
    // The payload texts are built once; per call only the ids, stream names and keys are new.
    const events = Array.from({ length: batch }, (_, i) => callbackEvent(0, i));
    const dataArray = `[${events.map((e) => JSON.stringify(e.data)).join(',')}]`;
    const metadataArray = `[${events.map((e) => JSON.stringify({ ...e.metadata, recorded_at: recordedAt })).join(',')}]`;
    const slots = events.map((_, i) => i);
    let call = 0;
    const m = await measure(
      'append statement back to back, 32 events/call',
      1,
      SECONDS,
      async () => {
        call += 1;
        const values = [
          [],
          [],
          slots.map(() => randomUUID()),
          slots.map((i) => `ceiling-${call}-${i}`),
          slots.map(() => 0),
          events.map((e) => e.type),
          slots.map((i) => `k-${call}-${i}`),
          dataArray,
          metadataArray,
          'bench',
        ];
        await client.query({ name: 'ceiling', text, values });
        return batch;
      },
    );
    await client.end();
    return m;
  });
}

/**
 * The floor under any serialised writer: raw 32-row INSERTs of the baseline rows, back to back on
 * one connection, with no decisions at all (no revision or idempotency checks, no head). A writer
 * that commits one batch at a time, as a dense gapless log must, cannot beat this at 32 events per
 * batch, whatever its SQL.
 */
async function rawSerialWriter(admin: pg.Client): Promise<Measurement> {
  return withRawTable(admin, 1, (pool) => {
    const rows = 32;
    const text = multiRowInsert(rows);
    return measure('raw 32-row INSERT back to back, 1 connection', 1, SECONDS, async (w, s) => {
      const values = Array.from({ length: rows }, (_, r) => rawRow(w, s, r * 1e6)).flat();
      await pool.query({ name: 'serial', text, values });
      return rows;
    });
  });
}

/** Store appends/s against raw pg INSERTs of the same rows, at each concurrency, in one run. */
export async function benchStoreAppend(): Promise<void> {
  const admin = new pg.Client({ connectionString: BENCH_PG_URL });
  await admin.connect();
  const rows: string[] = [];
  let goal = '';
  let lastStoreRate = 0;
  let lastBatchRate = 0;
  try {
    for (const c of CONCURRENCY) {
      const single = await rawSingleRow(admin, c);
      const batch = await rawBatch(admin, c);
      const store = await storeAppends(admin, c);
      for (const m of [single, batch, store]) {
        console.log(
          `${m.label.padEnd(40)} ${fmt(m.rate).padStart(10)} events/s  p50 ${fmt(m.p50, 2)} ms  p99 ${fmt(m.p99, 2)} ms`,
        );
      }
      rows.push(
        `| ${c} | ${fmt(store.rate)} | ${fmt(single.rate)} | ${fmt(batch.rate)} | ${fmt(store.rate / single.rate, 2)}× | ${fmt((100 * store.rate) / batch.rate, 0)}% | ${fmt(store.p50, 2)} / ${fmt(store.p99, 2)} |`,
      );
      if (c === 32) {
        lastStoreRate = store.rate;
        lastBatchRate = batch.rate;
        const vsSingle = store.rate / single.rate;
        const vsBatch = store.rate / batch.rate;
        goal =
          `Goal at concurrency 32: store ≥ 1.0× raw single-row INSERTs (measured ${fmt(vsSingle, 2)}×: ${vsSingle >= 1 ? 'met' : 'NOT met'}) ` +
          `and ≥ 40% of raw 100-row INSERTs (measured ${fmt(100 * vsBatch, 0)}%: ${vsBatch >= 0.4 ? 'met' : 'NOT met'}).`;
      }
    }
    const ceiling = await serverCeiling(admin);
    console.log(`${ceiling.label.padEnd(40)} ${fmt(ceiling.rate).padStart(10)} events/s`);
    const serial = await rawSerialWriter(admin);
    console.log(`${serial.label.padEnd(40)} ${fmt(serial.rate).padStart(10)} events/s`);
    goal += ` The database side alone (the store's append statement called back to back on one connection, 32 events per call, arguments built beforehand) reaches ${fmt(ceiling.rate)} events/s: the ceiling of a serialised writer at this batch size, against which store.append at concurrency 32 reaches ${fmt((100 * lastStoreRate) / ceiling.rate, 0)}%. A writer with no decisions at all (raw 32-row INSERTs of the same rows back to back on one connection) reaches ${fmt(serial.rate)} events/s, ${fmt((100 * serial.rate) / lastBatchRate, 0)}% of the raw 100-row rate at concurrency 32: the most any writer that commits one batch at a time (which dense, gapless positions require) could reach here.`;
  } finally {
    await admin.end();
  }
  const machine = await machineDescription();
  await writeSection(
    'store-append',
    `## Store appends on PostgreSQL

\`npm run bench -- store-append\`, run ${new Date().toISOString().slice(0, 10)}. One event per append (a ~600-byte
\`mission.progress\` callback with an idempotency key), each to a new stream with \`expectedRevision: 'no_stream'\`, so every
append checks a revision and an idempotency key. Baselines write the same row shape into the same table definition with raw
\`pg\`: one autocommitted single-row INSERT per operation, and one 100-row INSERT per operation. ${SECONDS} s measured after
a 1 s warm-up per cell; rates are events (rows) per second.

| concurrency | store.append | raw single-row INSERT | raw 100-row INSERT | store ÷ single-row | store ÷ 100-row | store p50 / p99 ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

${goal}

${machine.join('\n')}`,
  );
}
