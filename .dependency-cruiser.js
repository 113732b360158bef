// @ts-check
// The layers of docs/architecture.md ("Layers"), checked by dependency-cruiser in `npm run lint`
// over src/, schemas/ and projections/. Every rule is named in the table there; a rule added or
// renamed here is added or renamed there. test/unit/layers.test.ts breaks each rule on purpose.
// Type-only imports count: they couple layers as much as value imports do.

/** @param {string[]} names */
const anyOf = (names) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|');

/** npm packages that reach a database, the network, files or a log sink. */
const ioPackages = [
  'express',
  'kysely',
  'kysely-pglite-dialect',
  'pg',
  '@electric-sql/pglite',
  '@eventstore/db-client',
  'pino',
  'fs-native-extensions',
];

/** Node built-ins that do I/O (`crypto`, `path`, `url`, `util` compute and stay allowed). */
const ioBuiltins = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'dgram',
  'dns',
  'tls',
  'cluster',
  'worker_threads',
  'readline',
  'os',
];

// A package resolves to node_modules/NAME/...; one that is not installed stays NAME. A built-in
// resolves to its bare name, `node:` dropped.
const ioLibrary = [
  `(^|/)node_modules/(${anyOf(ioPackages)})/`,
  `^(${anyOf(ioPackages)})(/|$)`,
  `^(${anyOf(ioBuiltins)})$`,
].join('|');

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'pure-layers-import-no-io-library',
      comment:
        'domain, policy, audit, schemas and projections are pure: no database, network, file or ' +
        'log library (schemas/export.ts is the `npm run schemas` script, imported by nothing).',
      severity: 'error',
      from: {
        path: '^(src/(domain|policy|audit)|schemas|projections)/',
        pathNot: '^schemas/export\\.ts$',
      },
      to: { path: ioLibrary },
    },
    {
      name: 'pure-layers-import-no-outer-layer',
      comment:
        'domain, policy and audit import only each other, schemas/, errors.ts and json.ts: never ' +
        'the command path, store, read side, http, cli, config or the logger.',
      severity: 'error',
      from: { path: '^src/(domain|policy|audit)/' },
      to: {
        path: '^(src|projections)/',
        pathNot: '^src/(domain|policy|audit)/|^src/(errors|json)\\.ts$',
      },
    },
    {
      name: 'policy-imports-only-schemas-and-errors',
      comment:
        'The policy core is pure data and functions over it: of the repository it uses schemas/ ' +
        'and the error codes, so the domain, a replay and a simulation can all decide with it.',
      severity: 'error',
      from: { path: '^src/policy/' },
      to: { path: '^(src|projections)/', pathNot: '^src/policy/|^src/errors\\.ts$' },
    },
    {
      name: 'schemas-import-nothing-from-src',
      comment: 'schemas/ is the wire contract: it imports zod and itself, nothing of the ledger.',
      severity: 'error',
      from: { path: '^schemas/' },
      to: { path: '^(src|projections)/' },
    },
    {
      name: 'projections-import-only-domain-and-errors',
      comment: 'projections/ are pure folds: of src/ they may use the domain and the error codes.',
      severity: 'error',
      from: { path: '^projections/' },
      to: { path: '^src/', pathNot: '^src/domain/|^src/errors\\.ts$' },
    },
    {
      name: 'ledger-does-not-import-http',
      comment: 'The command path knows nothing of its transport.',
      severity: 'error',
      from: { path: '^src/ledger/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'ledger-uses-only-the-store-port',
      comment: 'The command path sees the EventStore port, not an adapter nor the read side.',
      severity: 'error',
      from: { path: '^src/ledger/' },
      to: {
        path: '^src/(store|read-models)/',
        pathNot: '^src/store/port\\.ts$',
      },
    },
    {
      name: 'http-uses-only-the-store-port',
      comment: 'Routes read the log through the EventStore port; opening a store is the cli’s job.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/store/', pathNot: '^src/store/port\\.ts$' },
    },
    {
      name: 'http-uses-only-the-read-side-ports',
      comment:
        'The read side’s public port is read-models.ts (the ReadModels service: waits, health) ' +
        'and queries.ts (the reads the API answers); its tables, runners and rebuilds are internal.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: {
        path: '^src/read-models/',
        pathNot: '^src/read-models/(read-models|queries)\\.ts$',
      },
    },
    {
      name: 'store-internals-stay-in-store',
      comment:
        'Outside src/store only port.ts (the contract) and open-store.ts (opening a store and the ' +
        'SQL conventions the read side shares with it) are imported.',
      severity: 'error',
      from: { pathNot: '^src/store/|^src/simulation/simulation-store\\.ts$' },
      to: { path: '^src/store/', pathNot: '^src/store/(port|open-store)\\.ts$' },
    },
    {
      name: 'simulation-store-uses-append-rules',
      comment:
        'The simulation store applies the append rules every adapter shares (append-plan.ts, ' +
        'deep-freeze.ts) to a log it spills to a scratch file; of src/store it uses nothing else.',
      severity: 'error',
      from: { path: '^src/simulation/simulation-store\\.ts$' },
      to: {
        path: '^src/store/',
        pathNot: '^src/store/(port|append-plan|memory/deep-freeze)\\.ts$',
      },
    },
    {
      name: 'simulation-imports-no-http-cli-read-side',
      comment:
        'A simulation is the command path on its own store: it knows no HTTP, cli or read model, ' +
        'so the cli and a simulation job over HTTP can both run it.',
      severity: 'error',
      from: { path: '^src/simulation/' },
      to: { path: '^src/(http|cli|read-models)/' },
    },
    {
      name: 'store-imports-no-upper-layer',
      comment:
        'The store uses audit, schema-migrations, errors, json, defaults and schemas/: nothing ' +
        'that uses it.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: {
        path: '^(src|projections)/',
        pathNot: '^src/(store|audit|schema-migrations)/|^src/(errors|json|defaults)\\.ts$',
      },
    },
    {
      name: 'schema-migrations-import-only-errors',
      comment:
        'The migrator, frozen migrations and schema names are shared by the store and the read ' +
        'side, so they sit below both and import only the error codes.',
      severity: 'error',
      from: { path: '^src/schema-migrations/' },
      to: {
        path: '^(src|schemas|projections)/',
        pathNot: '^src/(schema-migrations/|errors\\.ts$)',
      },
    },
    {
      name: 'read-side-imports-no-ledger-or-http',
      comment: 'The read side follows the log; it never calls the ledger or http.',
      severity: 'error',
      from: { path: '^src/read-models/' },
      to: { path: '^src/(ledger|http)/' },
    },
    {
      name: 'config-imports-no-layer',
      comment:
        'config.ts reads the environment; it owns its defaults (defaults.ts) and imports neither ' +
        'http nor store nor any other layer.',
      severity: 'error',
      from: { path: '^src/config\\.ts$' },
      to: { path: '^(src|schemas|projections)/', pathNot: '^src/(errors|defaults)\\.ts$' },
    },
    {
      name: 'defaults-import-nothing',
      comment: 'defaults.ts is a leaf, so every layer and config may import it.',
      severity: 'error',
      from: { path: '^src/defaults\\.ts$' },
      to: {},
    },
    {
      name: 'cli-is-the-only-composition-root',
      comment:
        'Only src/cli wires the process: nothing else imports the cli, creates the app ' +
        '(http/app.ts) or opens the read models (read-models/open-read-models.ts).',
      severity: 'error',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/|^src/http/app\\.ts$|^src/read-models/open-read-models\\.ts$' },
    },
    {
      name: 'scripts-are-imported-by-nothing',
      comment: 'schemas/export.ts writes files when run; its pure part is schemas/json-schema.ts.',
      severity: 'error',
      from: {},
      to: { path: '^schemas/export\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one layer.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports and that imports nothing is dead code.',
      severity: 'error',
      from: { orphan: true, pathNot: '\\.d\\.ts$' },
      to: {},
    },
    {
      name: 'no-unresolvable-import',
      comment: 'An import that resolves to no file fails at run time.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    cache: { folder: 'node_modules/.cache/dependency-cruiser', strategy: 'content' },
  },
};
