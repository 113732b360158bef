import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';

const run = promisify(execFile);

/**
 * A small client written against the types openapi-typescript generates from the document, using
 * openapi-fetch. It dispatches a mission, reads it back, lists missions and reads a mission that
 * does not exist, and prints what it saw as one JSON line. The `@ts-expect-error` lines make the
 * compile fail if the generated types were loose (an open record accepts any property).
 */
const CLIENT = `import createClient from 'openapi-fetch';
import type { components, paths } from './schema.js';

type Schemas = components['schemas'];

const [baseUrl, token, dispatchJson] = process.argv.slice(2);
if (baseUrl === undefined || token === undefined || dispatchJson === undefined) {
  throw new Error('usage: client BASE_URL TOKEN DISPATCH_JSON');
}
const client = createClient<paths>({ baseUrl, headers: { Authorization: \`Bearer \${token}\` } });

const payload = JSON.parse(dispatchJson) as Schemas['mission-dispatch'];
const dispatched = await client.POST('/v1/missions', { body: payload });
if (dispatched.data === undefined) throw new Error(\`dispatch failed: \${dispatched.response.status}\`);
const result: Schemas['CommandResult'] = dispatched.data;
const position: number = result.position;

const read = await client.GET('/v1/missions/{id}', { params: { path: { id: result.mission_id } } });
if (read.data === undefined) throw new Error(\`read failed: \${read.response.status}\`);
const view: Schemas['MissionView'] = read.data;
const status: Schemas['MissionStatus'] = view.status;
const llmPercent: number | null = view.usage.llm_calls.percent;
const pending: 'cancel'[] = view.pending_commands.map((c) => c.type);
// @ts-expect-error the mission view has no such field
void view.no_such_field;

const listed = await client.GET('/v1/missions', {
  params: { query: { limit: 5, min_position: position } },
});
if (listed.data === undefined) throw new Error(\`list failed: \${listed.response.status}\`);
const listedIds: string[] = listed.data.missions.map((m) => m.mission_id);
const nextCursor: string | null = listed.data.next_cursor;

const missing = await client.GET('/v1/missions/{id}', { params: { path: { id: 'msn_nowhere' } } });
const problem: Schemas['Error'] | undefined = missing.error;
const code: Schemas['ErrorCode'] | undefined = problem?.error.code;
// @ts-expect-error an error code is one of the enum, not any string
const notACode: Schemas['ErrorCode'] = 'NOT_A_CODE';
void notACode;

console.log(
  JSON.stringify({
    dispatch: { status: dispatched.response.status, result },
    view: { status, llmPercent, pending, mission_id: view.mission_id, revision: view.revision },
    list: { status: listed.response.status, ids: listedIds, nextCursor },
    missing: { status: missing.response.status, code },
  }),
);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2023',
    lib: ['ES2023', 'DOM'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  },
  files: ['client.ts', 'schema.d.ts'],
};

/** A generated, compiled client in a scratch directory. */
export interface TypedClient {
  dir: string;
  /** The generated `schema.d.ts`. */
  types: string;
  /** Runs the client against `baseUrl`; resolves with what it printed, parsed. */
  run(baseUrl: string, token: string, dispatch: unknown): Promise<unknown>;
  remove(): Promise<void>;
}

/**
 * Generates types from `document` with openapi-typescript, writes {@link CLIENT} beside them and
 * type-checks both with tsc (rejecting with tsc's output when it fails). The scratch directory is
 * under node_modules/.cache so that `openapi-fetch` and `@types/node` resolve from it.
 */
export async function typedClient(document: unknown): Promise<TypedClient> {
  const root = process.cwd();
  const cache = join(root, 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, 'openapi-client-'));
  const types = astToString(await openapiTS(JSON.stringify(document)));
  await writeFile(join(dir, 'schema.d.ts'), types);
  await writeFile(join(dir, 'client.ts'), CLIENT);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  try {
    await run(tsc, ['-p', join(dir, 'tsconfig.json')], { cwd: dir });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the typed client does not compile:\n${stdout}${stderr}`);
  }
  return {
    dir,
    types,
    async run(baseUrl, token, dispatch) {
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', join(dir, 'client.ts'), baseUrl, token, JSON.stringify(dispatch)],
        { cwd: root },
      );
      return JSON.parse(stdout) as unknown;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
