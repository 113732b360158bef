import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. Secrets never reach a log line: callers pass redacted values. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'mission-ledger' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['*.authorization', '*.token', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
