import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { LedgerError } from '../errors.ts';

/**
 * Binds the HTTP port before anything else is opened, so that a port in use ends start-up at once
 * with nothing to undo. Until `serve` replaces it, the listener answers `503` with
 * `Retry-After: 1`: the port is held but the ledger is still opening its store.
 */
export async function bindPort(port: number, host: string): Promise<Server> {
  const server = createServer(answerStarting);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen(port, host);
    });
  } catch (error) {
    server.close();
    throw new LedgerError(
      'CONFIGURATION_INVALID',
      bindFailure(error, port, host),
      { port, host },
      { cause: error },
    );
  }
  return server;
}

/** Hands the bound server to the app: every later request goes to `handler`. */
export function serveWith(server: Server, handler: RequestListener): void {
  server.removeListener('request', answerStarting);
  server.on('request', handler);
}

function answerStarting(_req: unknown, res: ServerResponse): void {
  res.writeHead(503, { 'retry-after': '1', connection: 'close' }).end();
}

/** One line naming the setting to change. */
function bindFailure(error: unknown, port: number, host: string): string {
  const code = (error as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : error instanceof Error ? error.message : '';
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is in use; set PORT, 0 picks a free one`;
    case 'EACCES':
      return `port ${port} needs privileges this process lacks; set PORT above 1023, 0 picks a free one`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${host} is not an address of this machine; set HOST (127.0.0.1, or 0.0.0.0 for every interface)`;
    default:
      return `cannot listen on ${host}:${port} (${reason}); check PORT and HOST`;
  }
}
