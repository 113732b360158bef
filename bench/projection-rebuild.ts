import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pureProjections, projectionNamed } from '../src/read-models/read-models.ts';
import {
  CATCH_UP_CACHED_ROWS,
  CATCH_UP_FLUSH_ROWS,
  catchUpProjections,
} from '../src/read-models/catch-up.ts';
import { dropSchema } from '../src/read-models/scratch.ts';
import { openStore } from '../src/store/open-store.ts';
import { seedLog } from './rebuild-seed.ts';
import { BENCH_PG_URL, fmt, machineDescription, writeSection } from './support.ts';

const EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 1_000_000);
/** Keep the seeded log between runs (schema `bench_rebuild_<events>`), for profiling. */
const KEEP = process.env.BENCH_KEEP_SEED === '1';

interface ChildResult {
  events: number;
  seconds: number;
  /** CPU time of the process (user + system): steadier than wall time on a shared machine. */
  cpuSeconds: number;
  maxRssMb: number;
}

const storeUrl = (schema: string) => {
  const url = new URL(BENCH_PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
};

/**
 * One measurement in a fresh process, so its peak RSS is its own: `raw` (keyset read with raw
 * pg), `store` (the ledger's readAll), or a comma-separated list of projections to rebuild at once.
 */
async function child(mode: string, schema: string): Promise<ChildResult> {
  const started = performance.now();
  let events = 0;
  if (mode === 'raw') {
    const client = new pg.Client({ connectionString: BENCH_PG_URL });
    await client.connect();
    const text = `select position, event_id, stream_id, revision, type, data, metadata
                    from "${schema}".events where position > $1 order by position limit 2000`;
    // The fastest way pg reads: a prepared statement, and the callback API. Awaiting pg's own
    // promises costs this loop about half again as much CPU (the garbage collector finds more
    // of each page alive: 31 full collections to 1), which would flatter every ratio below.
    const page = (after: number) =>
      new Promise<pg.QueryResult<{ position: string }>>((resolve, reject) => {
        client.query<{ position: string }>(
          { name: 'raw_page', text, values: [after] },
          (error: Error | undefined, result: pg.QueryResult<{ position: string }>) =>
            error ? reject(error) : resolve(result),
        );
      });
    let after = 0;
    for (;;) {
      const { rows } = await page(after);
      if (rows.length === 0) break;
      events += rows.length;
      after = Number(rows.at(-1)!.position);
    }
    await client.end();
  } else if (mode === 'store') {
    const store = await openStore(storeUrl(schema));
    let after = 0;
    for (;;) {
      const page = await store.readAll({ after, limit: 2000 });
      if (page.length === 0) break;
      events += page.length;
      after = page.at(-1)!.position;
    }
    await store.close();
  } else {
    const store = await openStore(storeUrl(schema));
    const pool = new pg.Pool({ connectionString: BENCH_PG_URL, max: 16 });
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    const target = `${schema}_rm_${process.pid}`;
    const head = await store.headPosition();
    try {
      const outcomes = await catchUpProjections({
        store,
        db,
        schema: target,
        targets: mode.split(',').map((name) => ({ pure: projectionNamed(name), until: head })),
      });
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
      events = head;
    } finally {
      await dropSchema(db, target);
      await db.destroy();
      await store.close();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage();
  return {
    events,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

/**
 * bin/build-stamp.js, loaded by the parent alone: the compiled child lives in dist/bench, where
 * the relative path would not reach it.
 */
const buildStamp = () => import('../bin/build-stamp.js');

/**
 * Runs {@link child} in a fresh process, on the code `ledger` itself would run: the compiled
 * build while it is fresh (bin/build-stamp.js), else the sources through tsx.
 */
async function runChild(mode: string, schema: string): Promise<ChildResult> {
  const { ROOT, buildIsFresh } = await buildStamp();
  const entry = (await buildIsFresh())
    ? [join(ROOT, 'dist', 'bench', 'projection-rebuild.js')]
    : ['--import', 'tsx', fileURLToPath(import.meta.url)];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...entry, '--child', mode, schema], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench child ${mode} exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult);
    });
  });
}

export async function benchProjectionRebuild(): Promise<void> {
  const schema = `bench_rebuild_${EVENTS}`;
  const admin = new pg.Client({ connectionString: BENCH_PG_URL });
  await admin.connect();
  const seeded = await admin
    .query<{ n: string }>(`select position::text as n from "${schema}".head where id = 1`)
    .then((r) => Number(r.rows[0]?.n ?? 0))
    .catch(() => 0);
  if (seeded !== EVENTS) {
    await admin.query(`drop schema if exists "${schema}" cascade`);
    const store = await openStore(storeUrl(schema)); // migrates
    await store.close();
    const started = performance.now();
    await seedLog(BENCH_PG_URL, schema, EVENTS);
    console.log(
      `seeded ${EVENTS} events in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  const { rows: size } = await admin.query<{ mb: string; missions: string }>(
    `select (pg_total_relation_size('"${schema}".events') / 1048576)::text as mb,
            (select count(*) from "${schema}".events where type = 'mission.dispatched')::text as missions`,
  );
  const compiled = await (await buildStamp()).buildIsFresh();
  try {
    const raw = await runChild('raw', schema);
    console.log('raw keyset read', raw);
    const store = await runChild('store', schema);
    console.log('store.readAll', store);
    const singles: [string, ChildResult][] = [];
    for (const pure of pureProjections) {
      const result = await runChild(pure.name, schema);
      console.log(`rebuild ${pure.name}`, result);
      singles.push([pure.name, result]);
    }
    const names = pureProjections.map((p) => p.name).join(',');
    // Twice: this machine's speed drifts by 10-15% from run to run; the verdict takes the mean.
    const all = await runChild(names, schema);
    console.log('rebuild all five', all);
    const allAgain = await runChild(names, schema);
    console.log('rebuild all five (again)', allAgain);
    const rawAgain = await runChild('raw', schema);
    console.log('raw keyset read (again)', rawAgain);

    const rawRate = (raw.events / raw.seconds + rawAgain.events / rawAgain.seconds) / 2;
    const pct = (r: ChildResult) => Math.round((100 * r.events) / r.seconds / rawRate);
    const row = (label: string, r: ChildResult) =>
      `| ${label} | ${fmt(r.events)} | ${fmt(r.seconds, 1)} | ${fmt(r.cpuSeconds, 1)} | ${fmt(r.events / r.seconds)} | ${pct(r)}% | ${fmt(r.maxRssMb)} |`;
    const mean: ChildResult = {
      events: all.events,
      seconds: (all.seconds + allAgain.seconds) / 2,
      cpuSeconds: (all.cpuSeconds + allAgain.cpuSeconds) / 2,
      maxRssMb: Math.max(all.maxRssMb, allAgain.maxRssMb),
    };
    const verdict = (r: ChildResult) => {
      const rate = r.events / r.seconds;
      return `${fmt(rate)} events/s (${rate >= 80_000 ? 'met' : 'NOT met'}), ${pct(r)}% of the raw read (${pct(r) >= 40 ? 'met' : 'NOT met'}), ${fmt(r.maxRssMb)} MB (${r.maxRssMb < 400 ? 'met' : 'NOT met'})`;
    };
    const markdown = [
      '## Projection rebuild on PostgreSQL',
      '',
      `\`npm run bench -- projection-rebuild\`, run ${new Date().toISOString().slice(0, 10)}. A log of ${fmt(EVENTS)} events (${size[0]?.mb ?? '?'} MB with indexes): copies of six mission lifecycles made through the real command path (dispatch, accepted, progress, a rejected report for every third mission, then completed, failed, blocked, timed out, cancelled or still running), ${fmt(Number(size[0]?.missions ?? 0))} missions over 1,000 VP sessions, interleaved 500 missions at a time. Each row is a separate process, so its peak RSS is its own, running ${compiled ? 'the compiled build (dist/), as `ledger` does after `npm install`' : 'the TypeScript sources through tsx (the build in dist/ was missing or stale)'}. Rebuilds run the code \`ledger replay --verify\` and \`ledger projections rebuild\` run (\`catchUpProjections\`: one read of the log in pages of 2,000 for all projections, every projection folding each event as it passes, ${fmt(CATCH_UP_FLUSH_ROWS)} staged rows per projection per write, writes overlapping the fold, ${fmt(CATCH_UP_CACHED_ROWS)} cached rows per projection, unlogged tables without secondary indexes) into a fresh schema, from position 0 to the head. The baseline is a raw keyset read of the same table with \`pg\` (pages of 2,000, JSON parsed; a prepared statement through pg's callback API, its fastest way: awaiting pg's own promises made the same loop about a third slower), run first and last; their mean is the 100%. "events/s" counts log events: a projection reads every one of them.`,
      '',
      '| run | events | seconds | CPU seconds | events/s | of raw read | peak RSS MB |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      row('raw keyset read (pg)', raw),
      row('raw keyset read (pg), again', rawAgain),
      row('store.readAll (the ledger reader)', store),
      ...singles.map(([name, r]) => row(`rebuild ${name} alone`, r)),
      row('rebuild all five at once (what `replay --verify` does)', all),
      row('rebuild all five at once, again', allAgain),
      '',
      `Goal: at least 80,000 events/s, at least 40% of the raw read, peak RSS under 400 MB. All five at once (mean of the two runs, higher RSS): ${verdict(mean)}. Rebuilding one projection (\`ledger projections rebuild NAME\`): ${singles.map(([name, r]) => `${name} ${fmt(r.events / r.seconds)}/s`).join(', ')}.`,
      '',
      ...(await machineDescription()),
    ].join('\n');
    await writeSection('projection-rebuild', markdown);
  } finally {
    if (!KEEP) await admin.query(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
}

if (process.argv[2] === '--child') {
  const result = await child(process.argv[3]!, process.argv[4]!);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
