#!/usr/bin/env node
// Signs a JSON body the way a factory does for mission-ledger (docs/api.md, "Signed inputs"):
// a detached JWS (RFC 7515 Appendix F) with alg EdDSA (RFC 8037) over the RFC 8785 canonical
// JSON of the body. Prints the value of the Ledger-Signature header; send the body as it is.
//
//   node examples/sign-callback.js PRIVATE_KEY.pem KEY_ID BODY.json
//
// Only `jose` and `canonicalize` are used, so the same few lines port to any JOSE library.
import { readFile } from 'node:fs/promises';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import canonicalize from 'canonicalize';
import { CompactSign, importPKCS8 } from 'jose';

const [keyFile, keyId, bodyFile] = process.argv.slice(2);
if (keyFile === undefined || keyId === undefined || bodyFile === undefined) {
  process.stderr.write('usage: sign-callback.js PRIVATE_KEY.pem KEY_ID BODY.json\n');
  process.exit(2);
}

const privateKey = await importPKCS8(await readFile(keyFile, 'utf8'), 'EdDSA');
const body = JSON.parse(await readFile(bodyFile, 'utf8'));
const payload = Buffer.from(canonicalize(body), 'utf8');
const jws = await new CompactSign(payload)
  .setProtectedHeader({ alg: 'EdDSA', kid: keyId })
  .sign(privateKey);
// Detached: the payload segment is left out; the ledger takes it from the body.
const [protectedHeader, , signature] = jws.split('.');
process.stdout.write(`${protectedHeader}..${signature}\n`);
