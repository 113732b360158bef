import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { BENCH_PG_URL, fmt, machineDescription, writeSection } from './support.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Measurements of each cell (ledger and baseline alternating); the table gives median and range. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONNECTIONS = [1, 16, 64];
/** Callbacks are spread over this many missions, so concurrent requests rarely race on one stream. */
const MISSIONS = 2000;
const OPERATOR = `bench-operator-${randomUUID()}`;
const FACTORY = `bench-factory-${randomUUID()}`;

interface Cell {
  label: string;
  rate: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url}`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function run(
  label: string,
  url: string,
  connections: number,
  body: (i: number) => { path: string; json: string },
  token?: string,
): Promise<Cell> {
  let counter = 0;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const result = await autocannon({
    url,
    connections,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers,
        setupRequest: (req) => {
          const next = body(counter);
          counter += 1;
          return { ...req, path: next.path, body: next.json };
        },
      },
    ],
  });
  return {
    label,
    rate: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

async function missionsFixture(
  base: string,
): Promise<{ ids: string[]; callback: (i: number) => { path: string; json: string } }> {
  const dispatch = JSON.parse(
    await readFile(new URL('../fixtures/mission-dispatch.example.json', import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
  const accepted = JSON.parse(
    await readFile(new URL('../fixtures/lifecycle-event.example.json', import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
  const ids: string[] = [];
  const sessions: string[] = [];
  const run = `b${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < MISSIONS; i += 8) {
    await Promise.all(
      Array.from({ length: Math.min(8, MISSIONS - i) }, async (_, j) => {
        const id = `${run}-m${i + j}`;
        const res = await fetch(`${base}/v1/missions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR}` },
          body: JSON.stringify({
            ...dispatch,
            mission_id: id,
            vp_session_id: undefined,
            idempotency_key: `d-${id}`,
          }),
        });
        const out = (await res.json()) as { vp_session_id: string };
        if (res.status !== 201)
          throw new Error(`dispatch failed: ${res.status} ${JSON.stringify(out)}`);
        const cb = await fetch(`${base}/v1/missions/${id}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${FACTORY}` },
          body: JSON.stringify({
            ...accepted,
            mission_id: id,
            vp_session_id: out.vp_session_id,
            idempotency_key: `a-${id}`,
          }),
        });
        if (cb.status !== 201) throw new Error(`accept failed: ${cb.status} ${await cb.text()}`);
        ids[i + j] = id;
        sessions[i + j] = out.vp_session_id;
      }),
    );
  }
  const callback = (n: number) => {
    const m = n % MISSIONS;
    const id = ids[m]!;
    return {
      path: `/v1/missions/${id}/events`,
      json: JSON.stringify({
        ...accepted,
        mission_id: id,
        vp_session_id: sessions[m],
        event_type: 'mission.progress',
        status: 'running',
        summary: `Step ${n}: refactored one more module; tests green so far.`,
        idempotency_key: `p-${run}-${n}`,
      }),
    };
  };
  return { ids, callback };
}

/** How the ledger's processes are laid out for a row of the benchmark. */
interface Layout {
  name: string;
  /** Processes to start: the first serves HTTP. `args` after the node binary. */
  processes: string[][];
  /** Projections whose lag is awaited after the run (none for a ledger without a read side). */
  projections: boolean;
}

const LEDGER = ['bin/ledger.js'];
const LAYOUTS: Layout[] = [
  {
    name: 'ledger serve, the five projections live in it',
    processes: [[...LEDGER, 'serve']],
    projections: true,
  },
  {
    name: 'ledger serve, ten projections live in it (the five and a copy of each)',
    processes: [['--import', 'tsx', 'bench/serve-with-copies.ts']],
    projections: true,
  },
  {
    name: 'ledger serve --no-projections + ledger projector (two processes)',
    processes: [
      [...LEDGER, 'serve', '--no-projections'],
      [...LEDGER, 'projector'],
    ],
    projections: true,
  },
  {
    name: 'ledger serve --no-projections alone (no read side: the command path only)',
    processes: [[...LEDGER, 'serve', '--no-projections']],
    projections: false,
  },
];

/** Median, lowest and highest of some measurements. */
function spread(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

/** Waits until every projection has caught up with the log head; returns how long that took. */
async function catchUpMs(base: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await fetch(`${base}/v1/projections`, {
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    const body = (await res.json()) as { projections: { lag: number; status: string }[] };
    if (body.projections.some((p) => p.status === 'stalled')) {
      throw new Error(`a projection stalled: ${JSON.stringify(body)}`);
    }
    if (body.projections.every((p) => p.lag === 0)) return performance.now() - started;
    if (performance.now() - started > 120_000) throw new Error('projections did not catch up');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lifecycle callbacks/s and latency through the whole API on PostgreSQL, beside bare express. */
export async function benchApiCallbacks(): Promise<void> {
  const admin = new pg.Client({ connectionString: BENCH_PG_URL });
  await admin.connect();
  const dir = await mkdtemp(join(tmpdir(), 'ledger-bench-'));
  const tokensFile = join(dir, 'tokens.json');
  const dispatch = JSON.parse(
    await readFile(new URL('../fixtures/mission-dispatch.example.json', import.meta.url), 'utf8'),
  ) as { target_instance_id: string };
  await writeFile(
    tokensFile,
    JSON.stringify([
      { token: OPERATOR, role: 'operator' },
      { token: FACTORY, role: 'factory', instance_id: dispatch.target_instance_id },
    ]),
  );
  const barePort = await freePort();
  // The baseline runs as the ledger does: compiled while the build is fresh, else through tsx.
  const { buildIsFresh } = await import('../bin/build-stamp.js');
  const compiled = await buildIsFresh();
  const bareEntry = compiled
    ? ['dist/bench/bare-express.js']
    : ['--import', 'tsx', 'bench/bare-express.ts'];
  const bare = spawn(process.execPath, bareEntry, {
    env: { ...process.env, PORT: String(barePort) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const bareUrl = `http://127.0.0.1:${barePort}`;
  await waitForHealth(`${bareUrl}/none`, bare).catch(() => undefined);
  const only = process.env.BENCH_LAYOUTS?.split(',').map(Number);
  const rows: string[] = [];
  const layoutRows: string[] = [];
  let goal = '';
  /** Median share of the bare express rate at 64 connections, by layout. */
  const ratesAt64 = new Map<string, number>();
  try {
    for (const [index, layout] of LAYOUTS.entries()) {
      if (only !== undefined && !only.includes(index)) continue;
      const schema = `bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const storeUrl = new URL(BENCH_PG_URL);
      storeUrl.searchParams.set('schema', schema);
      const ledgerPort = await freePort();
      const env = {
        ...process.env,
        LEDGER_STORE: storeUrl.toString(),
        LEDGER_TOKENS_FILE: tokensFile,
        LOG_LEVEL: 'info',
        LEDGER_ENV: 'staging',
      };
      const children = layout.processes.map((args, i) =>
        spawn(
          process.execPath,
          [
            // BENCH_PROFILE=dir: CPU profiles of the ledger's processes there.
            ...(process.env.BENCH_PROFILE
              ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
              : []),
            ...args,
          ],
          {
            env: { ...env, PORT: i === 0 ? String(ledgerPort) : '0' },
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        ),
      );
      try {
        const ledgerUrl = `http://127.0.0.1:${ledgerPort}`;
        await waitForHealth(`${ledgerUrl}/v1/healthz`, children[0]!);
        const { callback } = await missionsFixture(ledgerUrl);
        if (layout.projections) await catchUpMs(ledgerUrl);
        let offset = 0;
        for (const c of index === 0 ? CONNECTIONS : [64]) {
          // Ledger and baseline alternate, RUNS times: the machine's noise lands on both.
          const apis: Cell[] = [];
          const bases: Cell[] = [];
          const lags: number[] = [];
          for (let r = 0; r < RUNS; r += 1) {
            const base = offset;
            offset += 10_000_000;
            const api = await run(
              `ledger, ${c} connections`,
              ledgerUrl,
              c,
              (i) => callback(base + i),
              FACTORY,
            );
            if (layout.projections) lags.push(await catchUpMs(ledgerUrl));
            const baseline = await run(`bare express, ${c} connections`, bareUrl, c, (i) =>
              callback(i),
            );
            for (const m of [api, baseline]) {
              console.log(
                `${m.label.padEnd(32)} ${fmt(m.rate).padStart(8)} req/s  p50 ${fmt(m.p50, 1)} ms  p99 ${fmt(m.p99, 1)} ms  non-2xx ${m.non2xx}  errors ${m.errors}`,
              );
            }
            if (api.non2xx > 0 || api.errors > 0)
              throw new Error(`the ledger answered ${api.non2xx} non-2xx and ${api.errors} errors`);
            apis.push(api);
            bases.push(baseline);
          }
          const rate = spread(apis.map((a) => a.rate));
          const p99 = spread(apis.map((a) => a.p99));
          const bareRate = spread(bases.map((b) => b.rate));
          const share = spread(apis.map((a, i) => (100 * a.rate) / bases[i]!.rate));
          const cells = {
            rate: `${fmt(rate.median)} (${fmt(rate.min)}–${fmt(rate.max)})`,
            latency: `${fmt(spread(apis.map((a) => a.p50)).median, 1)} / ${fmt(p99.median, 1)} (${fmt(p99.min, 1)}–${fmt(p99.max, 1)})`,
            bare: `${fmt(bareRate.median)} (${fmt(bareRate.min)}–${fmt(bareRate.max)})`,
            share: `${fmt(share.median, 0)}% (${fmt(share.min, 0)}–${fmt(share.max, 0)}%)`,
            lag: layout.projections ? `${fmt(Math.max(...lags), 0)} ms` : 'no read side',
          };
          if (index === 0) {
            rows.push(
              `| ${c} | ${cells.rate} | ${cells.latency} | ${cells.bare} | ${cells.share} | ${cells.lag} |`,
            );
          }
          if (c === 64) {
            ratesAt64.set(layout.name, share.median);
            layoutRows.push(
              `| ${layout.name} | ${cells.rate} | ${cells.latency} | ${cells.bare} | ${cells.share} | ${cells.lag} |`,
            );
            if (index === 0) {
              goal = `Goal at 64 connections, every projection live in the serving process: ≥ 60% of the bare express rate (median ${fmt(share.median, 0)}%: ${share.median >= 60 ? 'met' : 'NOT met'}) and p99 < 35 ms (median ${fmt(p99.median, 1)} ms: ${p99.median < 35 ? 'met' : 'NOT met'}).`;
            }
          }
        }
      } finally {
        await Promise.all(children.map(stop));
        await admin.query(`drop schema if exists ${schema} cascade`);
        await admin.query(`drop schema if exists ${schema}_read_models cascade`);
      }
    }
  } finally {
    await stop(bare);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
  const five = ratesAt64.get(LAYOUTS[0]!.name);
  const ten = ratesAt64.get(LAYOUTS[1]!.name);
  const cost =
    five !== undefined && ten !== undefined
      ? `Goal for adding projections: ten live projections at ≥ 85% of the rate with five. The two layouts run minutes apart, so each is compared through its share of the bare express rate measured beside it: ${fmt(ten, 0)}% against ${fmt(five, 0)}%, ${fmt((100 * ten) / five, 0)}%: ${ten / five >= 0.85 ? 'met' : 'NOT met'}.`
      : '';
  const machine = await machineDescription();
  await writeSection(
    'api-callbacks',
    `## Lifecycle callbacks through the HTTP API on PostgreSQL

\`npm run bench -- api-callbacks\`, run ${new Date().toISOString().slice(0, 10)}. The ledger runs as \`ledger serve\` in its own
process on PostgreSQL (logging at \`info\`), with ${MISSIONS} missions dispatched and accepted beforehand; autocannon posts
\`mission.progress\` callbacks (about 900 bytes, each with a new idempotency key) round-robin over the missions, so every
request is authenticated, parsed, validated, decided against the mission's folded stream and appended. The baseline is a
bare express 5 endpoint in its own process that parses the same JSON bodies and answers 201, measured right after each
ledger cell; each cell is measured ${RUNS} times, ledger and baseline alternating, and given as the median (lowest–highest). Both run ${compiled ? 'the compiled build (dist/), as `ledger` does after `npm install`' : 'the TypeScript sources through tsx (the build in dist/ was missing or stale)'}. ${SECONDS} s per cell; every
ledger answer was a 2xx. "Read models caught up" is how long after the cell the projections took to reach the log head
(polled through \`GET /v1/projections\`): a rate bought by letting the read side fall behind would show there.

| connections | ledger req/s | ledger p50 / p99 ms | bare express req/s | ledger ÷ bare | read models caught up |
| ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

${goal}

Layouts at 64 connections, each on a fresh schema (the ten-projection row runs \`bench/serve-with-copies.ts\`, \`ledger serve\`
with a renamed copy of each projection, through tsx):

| layout | ledger req/s | p50 / p99 ms | bare express req/s | ledger ÷ bare | read models caught up |
| --- | ---: | ---: | ---: | ---: | ---: |
${layoutRows.join('\n')}

${cost}

${machine.join('\n')}`,
  );
}
