import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { missionBoundDataSchema } from '../../schemas/mission-events.ts';
import { missionEventDataSchemas } from '../../schemas/index.ts';
import { fastCheck } from '../../schemas/fast-check.ts';
import { safeParseStored } from '../../schemas/parse-memo.ts';
import { realisticLog } from './support/projection-given.ts';

const schemas: Record<string, z.ZodType> = {
  ...missionEventDataSchemas,
  'vp_session.mission_bound': missionBoundDataSchema,
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value inside `value` (the root is []). */
function paths(value: Json, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...at, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...at, k]));
  }
  return out;
}

/** The value at `path` inside `value`. */
function valueAt(value: Json, path: (string | number)[]): Json {
  let at = value;
  for (const key of path) at = (at as Record<string | number, Json>)[key]!;
  return at;
}

/** A copy of `value` with the value at `path` replaced (`undefined`: removed). */
function replaced(value: Json, path: (string | number)[], next: Json | undefined): Json {
  if (path.length === 0) return next ?? null;
  const copy = structuredClone(value) as Record<string | number, Json>;
  let parent: Record<string | number, Json> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else parent[last] = next;
  return copy;
}

/** Wrong (and some right) values of every kind a stored field can hold. */
const replacements: (Json | undefined)[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 60,
  '',
  'x',
  'A_CODE',
  'a'.repeat(513),
  '\u{1F600}'.repeat(200), // 400 UTF-16 code units, 200 code points
  '\u{1F600}'.repeat(300), // 600 code units: over a 512 limit only when counted as zod counts
  '2026-11-20T10:00:00.000Z',
  '2026-02-30T10:00:00Z',
  '2026-11-20T10:00:00',
  '2026-11-20T10:00Z',
  '2026-11-20T10:00:00+0200',
  'https://example.com/cb',
  'http://factory-a/cb',
  'http://user:secret@example.com/cb',
  'http://example.com/a b',
  'ftp://example.com/cb',
  '00000000-0000-4000-8000-000000000000',
  [],
  ['x'],
  {},
  { extra: 1 },
];

describe('fastCheck', () => {
  const log = realisticLog().events.filter((event) => event.type in schemas);

  it('covers every stored mission and registry event type', () => {
    const types = new Set(log.map((event) => event.type));
    expect(types.size).toBeGreaterThan(8);
    for (const [type, schema] of Object.entries(schemas)) {
      expect(fastCheck(schema), type).toBeDefined();
    }
  });

  it('accepts exactly what zod accepts, for every field of every stored event, however wrong', () => {
    let compared = 0;
    let rejected = 0;
    for (const event of log) {
      const schema = schemas[event.type]!;
      const check = fastCheck(schema)!;
      const data = event.data as Json;
      const parsed = schema.safeParse(data);
      expect(check(data), event.type).toBe(parsed.success);
      // Accepted data is zod's output value for value: callers use it as the parse result.
      if (parsed.success) expect(parsed.data).toStrictEqual(data);
      for (const path of paths(data)) {
        for (const next of replacements) {
          const mutated = replaced(data, path, next);
          const zod = schema.safeParse(mutated).success;
          expect(check(mutated), `${event.type} ${path.join('.')} := ${JSON.stringify(next)}`).toBe(
            zod,
          );
          compared += 1;
          if (!zod) rejected += 1;
        }
        // An unexpected key in the object at this path (strict objects refuse it).
        const at = valueAt(data, path);
        if (at !== null && typeof at === 'object' && !Array.isArray(at)) {
          const extra = replaced(data, path, { ...at, unexpected: 1 });
          expect(check(extra), `${event.type} ${path.join('.')} + unexpected`).toBe(
            schema.safeParse(extra).success,
          );
        }
      }
    }
    expect(compared).toBeGreaterThan(5_000);
    expect(rejected).toBeGreaterThan(compared / 2);
  });

  it('checks with zod what JSON Schema cannot state: the autonomy window order, URL schemes', () => {
    const event = log.find((e) => e.type === 'mission.dispatched')!;
    const data = event.data as { input: Record<string, Json> };
    const schema = schemas['mission.dispatched']!;
    const check = fastCheck(schema)!;
    const window = data.input.autonomy_window as { start_at: string; end_at: string } | undefined;
    expect(window).toBeDefined();
    const backwards = structuredClone(data);
    (backwards.input.autonomy_window as { start_at: string; end_at: string }).end_at =
      window!.start_at;
    expect(schema.safeParse(backwards).success).toBe(false);
    expect(check(backwards)).toBe(false);
    const ftp = structuredClone(data);
    ftp.input.callback_url = 'ftp://factory.example/cb';
    expect(schema.safeParse(ftp).success).toBe(false);
    expect(check(ftp)).toBe(false);
  });

  it('gives up on schemas it cannot state exactly, leaving them to zod', () => {
    expect(fastCheck(z.object({ a: z.string() }))).toBeUndefined(); // strips unknown keys
    expect(fastCheck(z.strictObject({ a: z.string().transform((s) => s.length) }))).toBeUndefined();
    expect(fastCheck(z.strictObject({ a: z.string().regex(/x/i) }))).toBeUndefined();
    expect(
      fastCheck(z.strictObject({ a: z.array(z.string().refine((s) => s !== 'no')) })),
    ).toBeUndefined();
    expect(fastCheck(z.strictObject({ a: z.string().min(2) }))).toBeDefined();
  });

  it('backs safeParseStored, which still reports zod issues for data it rejects', () => {
    const event = log.find((e) => e.type === 'mission.progress')!;
    const schema = schemas[event.type]!;
    const ok = safeParseStored(schema, event.data);
    expect(ok).toEqual({ success: true, data: event.data });
    const bad = safeParseStored(schema, { ...(event.data as object), received_at: 'yesterday' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['received_at']);
  });
});
