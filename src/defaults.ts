/*
 * The documented defaults of the settings that a module also applies when its caller passes
 * nothing. `config.ts` applies them to the environment and the store, http and ledger modules fall
 * back on them, so both read one value. This module imports nothing: config may depend on it
 * without depending on the layers it configures.
 */

/** Where the log lives when `LEDGER_STORE` is unset: embedded PGlite in ./.ledger. */
export const DEFAULT_STORE_URL = 'pglite:./.ledger';

/** 1 MiB: large enough for any mission payload, small enough to keep one batch in memory. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

/** 256 KiB: far above any real Mission Envelope, far below what could exhaust memory. */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

/** Rejections one principal may make the ledger record per minute; also the burst. */
export const DEFAULT_REJECTIONS_PER_MINUTE = 600;

/** Bytes of recorded rejections one principal may cause per minute; also the burst. */
export const DEFAULT_REJECTION_BYTES_PER_MINUTE = 16 * 1024 * 1024;
