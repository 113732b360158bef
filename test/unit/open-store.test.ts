import { isAbsolute, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LedgerError } from '../../src/errors.ts';
import { parseStoreUrl, redactStoreUrl, storeFsyncs } from '../../src/store/open-store.ts';

function configurationError(url: string): LedgerError {
  let thrown: unknown;
  try {
    parseStoreUrl(url);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(LedgerError);
  expect((thrown as LedgerError).code).toBe('CONFIGURATION_INVALID');
  return thrown as LedgerError;
}

/** Everything an error exposes to a log line. */
function exposed(error: LedgerError): string {
  return `${error.message} ${JSON.stringify(error.details)}`;
}

describe('parseStoreUrl', () => {
  it('resolves pglite:<dir> to an absolute directory', () => {
    const location = parseStoreUrl('pglite:./data/ledger');
    expect(location).toEqual({ kind: 'pglite', dataDir: resolve('data/ledger') });
    expect(location.kind === 'pglite' && isAbsolute(location.dataDir!)).toBe(true);
    expect(parseStoreUrl('pglite:/var/lib/ledger')).toEqual({
      kind: 'pglite',
      dataDir: '/var/lib/ledger',
    });
    expect(parseStoreUrl('pglite://./rel')).toEqual({ kind: 'pglite', dataDir: resolve('rel') });
  });

  it.each(['pglite:memory', 'pglite://memory'])('treats %s as in-memory', (url) => {
    expect(parseStoreUrl(url)).toEqual({ kind: 'pglite', dataDir: undefined });
  });

  it.each(['pglite:', 'pglite://'])(
    'refuses %s: an empty path is an unset variable, not memory',
    (url) => {
      expect(configurationError(url).message).toBe(
        'LEDGER_STORE=pglite: names no directory; give one (pglite:./.ledger) or say pglite:memory to keep nothing.',
      );
    },
  );

  it('refuses parameters on a pglite: directory', () => {
    expect(configurationError('pglite:./data?schema=x').message).toBe(
      'LEDGER_STORE pglite: takes a directory and no parameters.',
    );
  });

  it('refuses an unknown postgres:// parameter, naming it and the known ones, not the password', () => {
    const error = configurationError('postgres://u:secret@h/db?shema=tenant_7&sslmode=require');
    expect(error.message).toMatch(/^LEDGER_STORE has unknown parameter "shema"; known: schema, /);
    expect(error.details.unknown).toEqual(['shema']);
    expect(exposed(error)).not.toContain('secret');
  });

  it('names the setting a URL came from', () => {
    expect(() => parseStoreUrl('postgres://h/db?schem=x', 'LEDGER_READ_MODELS')).toThrow(
      /^LEDGER_READ_MODELS has unknown parameter "schem"/,
    );
  });

  it("refuses an unknown esdb:// option and accepts the client's own in any case", () => {
    expect(configurationError('esdb://h:2113?tls=false&tlsverfiycert=false').message).toMatch(
      /^LEDGER_STORE has unknown parameter "tlsverfiycert"; known: tls, /,
    );
    expect(parseStoreUrl('esdb://h:2113?TLS=false&keepAliveInterval=10000').kind).toBe(
      'eventstoredb',
    );
  });

  it.each([
    ['postgres://h/db', true],
    ['esdb://h:2113?tls=false', true],
    ['pglite:./data', false],
    ['pglite:memory', false],
    ['memory:', false],
  ])('says whether %s fsyncs: %s', (url, fsyncs) => {
    expect(storeFsyncs(parseStoreUrl(url))).toBe(fsyncs);
  });

  it.each(['postgres', 'postgresql'])(
    'takes the schema out of a %s:// URL and keeps the other parameters',
    (scheme) => {
      const location = parseStoreUrl(
        `${scheme}://app:pw@db.example:6543/ledger_db?sslmode=require&schema=tenant_7&application_name=ledger`,
      );
      expect(location.kind).toBe('postgres');
      if (location.kind !== 'postgres') return;
      expect(location.schema).toBe('tenant_7');
      const url = new URL(location.connectionString);
      expect(url.protocol).toBe(`${scheme}:`);
      expect(url.username).toBe('app');
      expect(url.password).toBe('pw');
      expect(url.host).toBe('db.example:6543');
      expect(url.pathname).toBe('/ledger_db');
      expect(url.searchParams.has('schema')).toBe(false);
      expect([...url.searchParams]).toEqual([
        ['sslmode', 'require'],
        ['application_name', 'ledger'],
      ]);
    },
  );

  it('defaults the schema to ledger', () => {
    expect(parseStoreUrl('postgres://u@h/db')).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://u@h/db',
      schema: 'ledger',
    });
  });

  it.each([
    "Robert'); drop",
    "Robert'); drop table events; --",
    'Upper',
    '1starts_with_digit',
    'x'.repeat(64),
    '',
  ])('refuses the schema name %j', (schema) => {
    const error = configurationError(
      `postgres://u:secret@h/db?schema=${encodeURIComponent(schema)}`,
    );
    expect(exposed(error)).not.toContain('secret');
  });

  it('accepts a schema name of 63 characters', () => {
    const schema = `s${'x'.repeat(62)}`;
    expect(parseStoreUrl(`postgres://h/db?schema=${schema}`)).toMatchObject({ schema });
  });

  it.each(['esdb://localhost:2113?tls=false', 'esdb+discover://admin:changeit@cluster:2113'])(
    'reads %s as EventStoreDB, passing the connection string through',
    (url) => {
      expect(parseStoreUrl(url)).toEqual({ kind: 'eventstoredb', connectionString: url });
    },
  );

  it('reads memory: as the in-memory store', () => {
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory' });
  });

  it.each(['memory:x', 'memory://', 'memory:?max=1', 'memory:u:secret@h'])(
    'refuses %j: memory: takes no parameters',
    (url) => {
      const error = configurationError(url);
      expect(error.message).toContain('memory: takes no parameters');
      expect(exposed(error)).not.toContain('secret');
    },
  );

  it.each([
    'mysql://u:secret@h/db',
    'http://u:secret@h/db',
    'POSTGRES://u:secret@h/db',
    'sqlite:./x',
    '',
  ])('refuses %j without exposing a password', (url) => {
    const error = configurationError(url);
    expect(exposed(error)).not.toContain('secret');
  });

  it('refuses an unparsable postgres:// URL without exposing its password', () => {
    const error = configurationError('postgres://u:secret@h:notaport/db');
    expect(error.details).toEqual({ store: 'postgres://u:***@h:notaport/db' });
    expect(exposed(error)).not.toContain('secret');
  });

  it('puts the redacted URL in the details of an unknown scheme', () => {
    expect(configurationError('mysql://u:secret@h/db').details).toEqual({
      store: 'mysql://u:***@h/db',
    });
  });

  // Malformed URLs still keep their password out of error details.
  it.each([
    ['a "/" in the password', 'postgres://u:secret/x@h/db'],
    ['an "@" in the password', 'mysql://u:p@ssecret@h/db'],
    ['no user name', 'mysql://:secret@h/db'],
    ['a single slash after the scheme', 'postgres:/u:secret@h/db'],
    ['no scheme', 'u:secret@h/db'],
  ])('keeps the password out of the details with %s', (_name, url) => {
    expect(exposed(configurationError(url))).not.toContain('secret');
  });
});

describe('redactStoreUrl', () => {
  it.each([
    ['postgres://u:secret@h/db', 'postgres://u:***@h/db'],
    ['postgresql://app:s3cr%2Ft@h:5432/db?schema=x', 'postgresql://app:***@h:5432/db?schema=x'],
    ['esdb://admin:changeit@h:2113?tls=false', 'esdb://admin:***@h:2113?tls=false'],
    ['mysql://u:secret@h/db', 'mysql://u:***@h/db'],
  ])('hides the password of %s', (url, redacted) => {
    expect(redactStoreUrl(url)).toBe(redacted);
  });

  it.each([
    'postgres://u@h/db',
    'postgres://h:5432/db?schema=x',
    'pglite:./data',
    'esdb://h:2113?tls=false',
  ])('leaves %s without a password unchanged', (url) => {
    expect(redactStoreUrl(url)).toBe(url);
  });

  // Everything between the scheme and the last "@" counts as credentials.
  it.each(['postgres://u:p@ssecret@h/db', 'postgres://:secret@h/db', 'postgres://u:secret/x@h/db'])(
    'hides the whole password of %s',
    (url) => {
      expect(redactStoreUrl(url)).not.toContain('secret');
    },
  );
});
