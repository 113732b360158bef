import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A server that speaks just enough of the PostgreSQL protocol to refuse a password as a real
 * server does: it asks for a cleartext password, records it, and answers SQLSTATE 28P01. The
 * test PostgreSQL trusts every local connection, so it can never refuse one itself.
 */
export async function passwordRefusingServer(): Promise<{
  port: number;
  passwords: string[];
  close: () => Promise<void>;
}> {
  const passwords: string[] = [];
  const server: Server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!started) {
        // The startup message: int32 length (itself included), then its body.
        if (buffered.length < 4 || buffered.length < buffered.readInt32BE(0)) return;
        buffered = buffered.subarray(buffered.readInt32BE(0));
        started = true;
        socket.write(message('R', int32(3))); // AuthenticationCleartextPassword
      }
      // The password message: 'p', int32 length, the password and a NUL.
      if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) return;
      const length = buffered.readInt32BE(1);
      passwords.push(buffered.subarray(5, 1 + length - 1).toString('utf8'));
      socket.end(
        message(
          'E',
          Buffer.concat([
            field('S', 'FATAL'),
            field('V', 'FATAL'),
            field('C', '28P01'),
            field('M', 'password authentication failed for user "app"'),
            Buffer.from([0]),
          ]),
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    passwords,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

function field(code: string, value: string): Buffer {
  return Buffer.from(`${code}${value}\0`, 'utf8');
}
