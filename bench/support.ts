import { cpus, totalmem, platform, release } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import pg from 'pg';

/** Where benchmarks create their scratch schemas (dropped afterwards). */
export const BENCH_PG_URL =
  process.env.LEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Measurement {
  label: string;
  ops: number;
  seconds: number;
  /** Operations per second. */
  rate: number;
  /** Per-operation latencies in ms, when the driver measured them. */
  p50?: number;
  p99?: number;
}

/**
 * Runs `concurrency` workers that call `op` back to back for `seconds` after a warm-up, and
 * counts completed operations. Each worker gets its index and a per-worker sequence number.
 */
export async function measure(
  label: string,
  concurrency: number,
  seconds: number,
  op: (worker: number, seq: number) => Promise<number | void>,
  warmupSeconds = 1,
): Promise<Measurement> {
  let counting = false;
  let stop = false;
  let ops = 0;
  const latencies: number[] = [];
  const seqs = new Array<number>(concurrency).fill(0);
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    while (!stop) {
      const seq = seqs[w]!;
      seqs[w] = seq + 1;
      const started = performance.now();
      const weight = (await op(w, seq)) ?? 1;
      if (counting) {
        ops += weight;
        latencies.push(performance.now() - started);
      }
    }
  });
  await sleep(warmupSeconds * 1000);
  counting = true;
  const started = performance.now();
  await sleep(seconds * 1000);
  counting = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return {
    label,
    ops,
    seconds: elapsed,
    rate: ops / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

function percentile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the numbers were measured on: they mean little without it. */
export async function machineDescription(): Promise<string[]> {
  const client = new pg.Client({ connectionString: BENCH_PG_URL });
  await client.connect();
  const version = (await client.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?';
  const settings = await client.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')`,
  );
  await client.end();
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const cpu = cpus();
  return [
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()} ${release()}`,
    `- Node ${process.version}; PostgreSQL: ${version.split(' on ')[0]} (${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')})`,
    `- Packages: pg ${pkg.dependencies.pg}, kysely ${pkg.dependencies.kysely}, express ${pkg.dependencies.express}, @electric-sql/pglite ${pkg.dependencies['@electric-sql/pglite']}`,
    `- Client and server share the machine's cores: the load generator competes with what it measures.`,
  ];
}

/**
 * Replaces one benchmark's section of docs/benchmarks.md (between its markers), keeping the
 * others, so each benchmark can be re-run alone.
 */
export async function writeSection(id: string, markdown: string): Promise<void> {
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const header =
    '# Benchmarks\n\nWritten by `npm run bench` (never edited by hand). Every figure is measured beside a baseline in the same run; ratios compare the two.\n';
  const existing = await readFile(path, 'utf8').catch(() => header);
  const start = `<!-- bench:${id} -->`;
  const end = `<!-- /bench:${id} -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const from = existing.indexOf(start);
  const to = existing.indexOf(end);
  const next =
    from >= 0 && to > from
      ? existing.slice(0, from) + block + existing.slice(to + end.length)
      : `${existing.trimEnd()}\n\n${block}\n`;
  await writeFile(path, next.endsWith('\n') ? next : `${next}\n`);
}

export function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined) return '–';
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}
