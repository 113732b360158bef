import { createPublicKey, verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import canonicalizeModule from 'canonicalize';
import { lifecycleEventSchema, missionDispatchSchema } from '../schemas/index.ts';
import { activatePolicy } from '../src/policy/active-policy.ts';
import { shippedProfiles } from '../src/policy/shipped-profiles.ts';
import { simulate } from '../src/simulation/simulator.ts';
import { generateTrace, traceLineText } from '../src/traces/generate.ts';
import { fmt, machineDescription, writeSection } from './support.ts';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** Missions per trace: about 100,000 inputs. */
const MISSIONS = Number(process.env.BENCH_SIMULATE_MISSIONS ?? 15_300);

interface Row {
  label: string;
  inputs: number;
  seconds: number;
}

async function writeTrace(path: string, signed: boolean): Promise<number> {
  const lines: string[] = [];
  for (const line of generateTrace({
    seed: 1,
    missions: MISSIONS,
    signed,
    start: '2026-01-01T00:00:00.000Z',
  })) {
    lines.push(traceLineText(line));
  }
  await writeFile(path, lines.join(''));
  return lines.length;
}

function lines(path: string) {
  return createInterface({ input: createReadStream(path), crlfDelay: Infinity });
}

/** Baseline: parse each line, and verify its signature with node:crypto where it has one. */
async function parseAndVerify(path: string): Promise<Row> {
  const started = performance.now();
  const keys = new Map<string, ReturnType<typeof createPublicKey>>();
  let inputs = 0;
  for await (const text of lines(path)) {
    const line = JSON.parse(text) as {
      kind: string;
      body: { key_id?: string; public_key?: string };
      headers: { 'ledger-signature'?: string };
    };
    inputs += 1;
    if (line.kind === 'key.register' && line.body.public_key !== undefined) {
      keys.set(
        line.body.key_id!,
        createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: line.body.public_key },
          format: 'jwk',
        }),
      );
    }
    const jws = line.headers['ledger-signature'];
    if (jws === undefined) continue;
    const [header, , signature] = jws.split('.');
    const kid = (JSON.parse(Buffer.from(header!, 'base64url').toString()) as { kid: string }).kid;
    const key = keys.get(kid);
    if (key === undefined) continue;
    const payload = Buffer.from(canonicalize(line.body)!).toString('base64url');
    verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature!, 'base64url'));
  }
  return {
    label: 'baseline: parse each line and verify its signature (node:crypto)',
    inputs,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Baseline: parse each line and validate its body with the zod contract schema. */
async function parseAndValidate(path: string): Promise<Row> {
  const started = performance.now();
  let inputs = 0;
  for await (const text of lines(path)) {
    const line = JSON.parse(text) as { kind: string; body: unknown };
    inputs += 1;
    if (line.kind === 'dispatch') missionDispatchSchema.safeParse(line.body);
    else if (line.kind === 'callback') lifecycleEventSchema.safeParse(line.body);
  }
  return {
    label: 'baseline: parse each line and validate it with the zod schema',
    inputs,
    seconds: (performance.now() - started) / 1000,
  };
}

async function simulated(
  label: string,
  path: string,
  profile: keyof typeof shippedProfiles,
  environment: 'production' | 'development',
): Promise<Row> {
  const started = performance.now();
  const report = await simulate({
    trace: createReadStream(path),
    policy: activatePolicy(shippedProfiles[profile], environment, null),
  });
  return { label, inputs: report.inputs, seconds: (performance.now() - started) / 1000 };
}

/** `npm run bench -- simulate`: policy simulation of generated traces beside parse baselines. */
export async function benchSimulate(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ledger-bench-sim-'));
  try {
    const signed = join(dir, 'signed.jsonl');
    const unsigned = join(dir, 'unsigned.jsonl');
    const signedLines = await writeTrace(signed, true);
    const unsignedLines = await writeTrace(unsigned, false);
    console.log(`traces: ${signedLines} signed inputs, ${unsignedLines} unsigned`);
    const verifyBase = await parseAndVerify(signed);
    const strict = await simulated(
      'ledger simulate, signed trace, control-plane-strict-v1 in production',
      signed,
      'control-plane-strict-v1',
      'production',
    );
    const validateBase = await parseAndValidate(unsigned);
    const dev = await simulated(
      'ledger simulate, unsigned trace, development in development',
      unsigned,
      'development',
      'development',
    );
    const rate = (r: Row) => r.inputs / r.seconds;
    const rows = [verifyBase, strict, validateBase, dev].map(
      (r) => `| ${r.label} | ${fmt(r.inputs)} | ${fmt(r.seconds, 1)} | ${fmt(rate(r))} |`,
    );
    for (const r of [verifyBase, strict, validateBase, dev]) {
      console.log(`${r.label.padEnd(72)} ${fmt(rate(r)).padStart(8)} inputs/s`);
    }
    const signedShare = rate(strict) / rate(verifyBase);
    const devShare = rate(dev) / rate(validateBase);
    const machine = await machineDescription();
    await writeSection(
      'simulate',
      `## Policy simulation of generated traces

\`npm run bench -- simulate\`, run ${new Date().toISOString().slice(0, 10)}, in one process through tsx. Two traces of the same ${fmt(MISSIONS)} generated missions (\`ledger trace generate --seed 1\`, faults included): signed (${fmt(signedLines)} inputs, key registrations and a revocation among them) and unsigned (${fmt(unsignedLines)} inputs). Each simulation runs every input through the real command handler on the simulation store (\`ledger simulate\`); each baseline reads the same file line by line and does only its named work.

| run | inputs | seconds | inputs/s |
| --- | ---: | ---: | ---: |
${rows.join('\n')}

Goals: signed under the strict profile ≥ 40% of the parse-and-verify baseline (measured ${fmt(100 * signedShare, 0)}%: ${signedShare >= 0.4 ? 'met' : 'NOT met'}); unsigned under development ≥ 50% of the parse-and-validate baseline (measured ${fmt(100 * devShare, 0)}%: ${devShare >= 0.5 ? 'met' : 'NOT met'}). The 1,000,000-input memory row is not measured here yet (see docs/simulation.md for the hand-measured figures).

${machine.join('\n')}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
