/**
 * A schema name quoted as a PostgreSQL identifier (`"ledger"`), the only thing a frozen migration
 * takes from outside. Made only by {@link quoteIdentifier}.
 */
export type QuotedIdentifier = string & { readonly quotedIdentifier: unique symbol };

/** Quotes `name` as a PostgreSQL identifier: wrapped in double quotes, inner ones doubled. */
export function quoteIdentifier(name: string): QuotedIdentifier {
  return `"${name.replaceAll('"', '""')}"` as QuotedIdentifier;
}

/**
 * A shipped migration: the SQL it ran on the day it shipped, as literal text, so that a schema
 * built today passes through exactly the states an old one did. A shipped migration is never
 * edited, renamed or reordered (test/integration/migrations.test.ts pins each text's SHA-256);
 * a change is a new migration.
 *
 * @example
 * const m: FrozenMigration = {
 *   name: '0004_events_by_type',
 *   statements: (s) => [`create index "events_type" on ${s}."events" ("type")`],
 * };
 */
export interface FrozenMigration {
  /** The name kysely records in the schema's migration table; migrations run in name order. */
  readonly name: string;
  /** The statements, run one at a time in one transaction, with the schema quoted. */
  readonly statements: (schema: QuotedIdentifier) => readonly string[];
}
