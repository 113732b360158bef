import { z } from 'zod';

/**
 * The ISO-8601 date-times the contract takes (seed 002 says "ISO-8601"): a calendar date, `T`, a
 * time to the minute or the second with any fraction, and an explicit offset (`Z` or `±hh:mm`),
 * so each names one instant. Minute precision is ISO-8601's reduced precision (Java's
 * `OffsetDateTime.toString()` writes it for whole minutes). Local times without an offset are
 * refused: they name no instant. Every form here is one `Date.parse` reads.
 */
const isoDateTimePattern = new RegExp(
  `${z.core.regexes.datetime({ offset: true }).source}|` +
    z.core.regexes.datetime({ offset: true, precision: -1 }).source,
);

/** An ISO-8601 date-time with an explicit offset (`Z` or `±hh:mm`), to the second or the minute. */
export const isoDateTime = z
  .string()
  .regex(isoDateTimePattern, 'must be an ISO-8601 date-time with an offset (Z or ±hh:mm)');

/** A non-empty identifier string. */
export const identifier = z.string().min(1).max(512);

/**
 * A mission id: it names the mission's stream (`mission-{mission_id}`) and appears in paths, so
 * it is 1 to 200 characters of letters, digits and `. _ : -`, starting with a letter or digit.
 */
export const missionId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/,
    'must be 1 to 200 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit',
  );

/** A non-negative finite number: budgets and usage. */
export const nonNegative = z.number().nonnegative().finite();

/** A non-negative integer: counts such as LLM calls. */
export const nonNegativeInt = z.number().int().nonnegative();

/**
 * An idempotency key. Capped at the length `eventMetadataSchema` accepts, so a key that passes the
 * wire contract can always be carried into the ledger's event metadata.
 */
export const idempotencyKey = z.string().min(1).max(256);

/** A list of non-empty strings: tool names, criteria, artifact references. */
export const stringList = z.array(z.string().min(1));

/** The URL `value` parses to (WHATWG URL Standard), or undefined when it does not parse. */
function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * Why `value` is not an absolute http(s) URL, or undefined when it is one. Any host the URL
 * Standard parses is fine: a name with or without dots (`factory-a`), `localhost`, an IPv4 or a
 * bracketed IPv6 address. `scheme://` must be spelt out: the parser would also read `http:host`
 * and `http:\\host` as URLs, but a sender who wrote that meant something else.
 */
function httpUrlProblem(value: string): string | undefined {
  const url = parseUrl(value);
  if (url === undefined) return 'must be an absolute URL, such as https://host/path';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must use http or https, not ${url.protocol.slice(0, -1)}`;
  }
  if (!/^https?:\/\//i.test(value)) return 'must start with http:// or https://';
  return undefined;
}

/**
 * Why `value` may not be taken as a new status URL, beyond {@link httpUrlProblem}: credentials
 * would keep a secret in the append-only log forever, and whitespace is something the URL parser
 * drops or rewrites, so the URL stored would not be the one used.
 */
function newHttpUrlProblem(value: string): string | undefined {
  if (/[\t\n\f\r ]/.test(value)) return 'must not contain whitespace (percent-encode it)';
  const problem = httpUrlProblem(value);
  if (problem !== undefined) return problem;
  const url = parseUrl(value)!;
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials (user:password@); name the secret in auth_ref';
  }
  return undefined;
}

/** A string schema refusing, with one issue, whatever `problem` finds wrong with the string. */
const checkedString = (problem: (value: string) => string | undefined) =>
  z.string().check((ctx) => {
    const message = problem(ctx.value);
    if (message !== undefined) ctx.issues.push({ code: 'custom', message, input: ctx.value });
  });

/**
 * An absolute http(s) URL as stored in events already in the log: no check here may refuse a URL
 * an earlier version of the ledger accepted, so it has none of the door's extra rules.
 */
export const recordedHttpUrl = checkedString(httpUrlProblem);

/** An absolute http(s) URL a new input may carry: {@link recordedHttpUrl}, without credentials or whitespace. */
export const httpUrl = checkedString(newHttpUrlProblem);
