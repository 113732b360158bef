import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * The layer rules of .dependency-cruiser.js (`npm run lint`), broken on purpose: each probe is a
 * module in a scratch tree laid out like this repository, importing what one rule forbids; the
 * real rule set must name that rule. The scratch tree links the repository's node_modules, so
 * package imports resolve exactly as they do in src/.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The rules as `npm run lint` runs them, without the cache (the probe tree changes each run). */
async function lintOptions(baseDir: string): Promise<ICruiseOptions> {
  const options = await extractDepcruiseOptions(join(root, '.dependency-cruiser.js'));
  return { ...options, baseDir, cache: false };
}

const describeViolation = (v: IViolation): string =>
  `${v.rule.name}: ${v.from} -> ${v.cycle ? v.cycle.map((c) => c.name).join(' -> ') : v.to}`;

/** A module of the scratch tree; an import spelled `type:NAME` is a type-only import. */
interface Module {
  file: string;
  imports: string[];
}

interface Probe extends Module {
  /** The rule its imports break. */
  rule: string;
}

/** One probe per rule, each importing what that rule forbids. */
const probes: Probe[] = [
  { rule: 'pure-layers-import-no-io-library', file: 'src/domain/uses-pg.ts', imports: ['pg'] },
  {
    rule: 'pure-layers-import-no-io-library',
    file: 'src/audit/uses-kysely-types.ts',
    imports: ['type:kysely'],
  },
  {
    rule: 'pure-layers-import-no-io-library',
    file: 'projections/reads-files.ts',
    imports: ['node:fs'],
  },
  {
    rule: 'pure-layers-import-no-io-library',
    file: 'schemas/logs.ts',
    imports: ['pino'],
  },
  {
    rule: 'pure-layers-import-no-outer-layer',
    file: 'src/domain/uses-store.ts',
    imports: ['../store/port.ts'],
  },
  {
    rule: 'policy-imports-only-schemas-and-errors',
    file: 'src/policy/uses-domain.ts',
    imports: ['../domain/mission/state.ts'],
  },
  {
    rule: 'policy-imports-only-schemas-and-errors',
    file: 'src/policy/uses-audit.ts',
    imports: ['../audit/canonical-json.ts'],
  },
  {
    rule: 'schemas-import-nothing-from-src',
    file: 'schemas/uses-errors.ts',
    imports: ['../src/errors.ts'],
  },
  {
    rule: 'projections-import-only-domain-and-errors',
    file: 'projections/uses-store.ts',
    imports: ['../src/store/port.ts'],
  },
  {
    rule: 'simulation-store-uses-append-rules',
    file: 'src/simulation/simulation-store.ts',
    imports: ['../store/memory/memory-log.ts'],
  },
  {
    rule: 'simulation-imports-no-http-cli-read-side',
    file: 'src/simulation/uses-http.ts',
    imports: ['../http/body.ts'],
  },
  {
    rule: 'ledger-does-not-import-http',
    file: 'src/ledger/uses-http.ts',
    imports: ['../http/body.ts'],
  },
  {
    rule: 'ledger-uses-only-the-store-port',
    file: 'src/ledger/uses-read-side.ts',
    imports: ['../read-models/queries.ts'],
  },
  {
    rule: 'http-uses-only-the-store-port',
    file: 'src/http/opens-store.ts',
    imports: ['../store/open-store.ts'],
  },
  {
    rule: 'http-uses-only-the-read-side-ports',
    file: 'src/http/uses-row-store.ts',
    imports: ['../read-models/row-store.ts'],
  },
  {
    rule: 'store-internals-stay-in-store',
    file: 'src/read-models/uses-pg-pool.ts',
    imports: ['../store/sql/pg-pool.ts'],
  },
  {
    rule: 'store-imports-no-upper-layer',
    file: 'src/store/uses-ledger.ts',
    imports: ['../ledger/command-handler.ts'],
  },
  {
    rule: 'schema-migrations-import-only-errors',
    file: 'src/schema-migrations/uses-store.ts',
    imports: ['../store/port.ts'],
  },
  {
    rule: 'read-side-imports-no-ledger-or-http',
    file: 'src/read-models/uses-ledger.ts',
    imports: ['../ledger/command-handler.ts'],
  },
  { rule: 'config-imports-no-layer', file: 'src/config.ts', imports: ['./http/body.ts'] },
  { rule: 'defaults-import-nothing', file: 'src/defaults.ts', imports: ['./errors.ts'] },
  {
    rule: 'cli-is-the-only-composition-root',
    file: 'src/read-models/uses-cli.ts',
    imports: ['../cli/main.ts'],
  },
  {
    rule: 'cli-is-the-only-composition-root',
    file: 'src/ledger/builds-app.ts',
    imports: ['../http/app.ts'],
  },
  {
    rule: 'scripts-are-imported-by-nothing',
    file: 'src/http/uses-export-script.ts',
    imports: ['../../schemas/export.ts'],
  },
  { rule: 'no-circular', file: 'src/audit/cycle-a.ts', imports: ['./cycle-b.ts'] },
  { rule: 'no-orphans', file: 'src/audit/orphan.ts', imports: [] },
  { rule: 'no-unresolvable-import', file: 'src/audit/typo.ts', imports: ['./missing.ts'] },
];

/** Imports the rules allow: each must pass, so no rule is broader than the table says. */
const allowed: Module[] = [
  {
    file: 'src/domain/pure.ts',
    imports: ['node:crypto', 'zod', '../errors.ts', '../json.ts', '../../schemas/primitives.ts'],
  },
  {
    file: 'src/policy/pure.ts',
    imports: [
      'node:crypto',
      'canonicalize',
      'zod',
      '../errors.ts',
      './rule-ids.ts',
      '../../schemas/policy-decision.ts',
    ],
  },
  {
    file: 'src/http/uses-ports.ts',
    imports: ['../store/port.ts', '../read-models/read-models.ts', '../read-models/queries.ts'],
  },
  {
    file: 'src/read-models/opens-beside-store.ts',
    imports: ['../store/open-store.ts', '../schema-migrations/schema-name.ts', 'kysely'],
  },
  {
    file: 'src/cli/wires.ts',
    imports: ['../http/app.ts', '../read-models/open-read-models.ts', '../store/open-store.ts'],
  },
  {
    file: 'projections/folds.ts',
    imports: ['../src/domain/pure.ts', '../src/errors.ts', '../schemas/primitives.ts'],
  },
];

function importLine(spec: string): string {
  return spec.startsWith('type:')
    ? `import type * as typesOnly from '${spec.slice('type:'.length)}';`
    : `import '${spec}';`;
}

/** Writes the probes, and every local module they import that is not a probe as an empty one. */
async function writeTree(dir: string, modules: Module[]): Promise<void> {
  const files = new Map<string, string>();
  const cycleBack = { 'src/audit/cycle-b.ts': "import './cycle-a.ts';\n" };
  for (const probe of modules) {
    files.set(probe.file, `${probe.imports.map(importLine).join('\n')}\nexport {};\n`);
  }
  for (const probe of modules) {
    for (const spec of probe.imports) {
      if (!spec.startsWith('.') || spec === './missing.ts') continue;
      const target = posix.join(posix.dirname(probe.file), spec);
      if (!files.has(target)) files.set(target, 'export {};\n');
    }
  }
  for (const [file, text] of Object.entries(cycleBack)) files.set(file, text);
  for (const [file, text] of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), text);
  }
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

describe('layer rules (.dependency-cruiser.js)', () => {
  let dir: string;
  let violations: IViolation[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ledger-layers-'));
    await writeTree(dir, [...probes, ...allowed]);
    const result = await cruise(['src', 'schemas', 'projections'], await lintOptions(dir));
    if (typeof result.output === 'string') throw new Error('expected a cruise result');
    violations = result.output.summary.violations;
  });

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it.each(probes)('$rule fails $file importing $imports', ({ rule, file }) => {
    const named = violations.filter((v) => v.from === file).map((v) => v.rule.name);
    expect(named).toContain(rule);
  });

  it.each(allowed)('$file may import $imports', ({ file }) => {
    expect(violations.filter((v) => v.from === file).map(describeViolation)).toEqual([]);
  });

  it('docs/architecture.md names every rule, and no other', async () => {
    const { ruleSet } = await lintOptions(root);
    const configured = (ruleSet?.forbidden ?? []).map((rule) => rule.name).sort();
    const architecture = await readFile(join(root, 'docs/architecture.md'), 'utf8');
    const documented = [...architecture.matchAll(/^\| `([a-z-]+)` +\|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual(configured);
    expect(new Set(probes.map((p) => p.rule))).toEqual(new Set(configured));
  });

  it('the repository passes every rule', async () => {
    const options = await lintOptions(root);
    const result = await cruise(['src', 'schemas', 'projections'], options, undefined, {
      tsConfig: extractTSConfig(join(root, 'tsconfig.json')),
    });
    if (typeof result.output === 'string') throw new Error('expected a cruise result');
    expect(result.output.summary.violations.map(describeViolation)).toEqual([]);
  });
});
