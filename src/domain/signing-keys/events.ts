import type {
  KeyRegisteredData,
  KeyRegistrationRejectedData,
  KeyRevocationRejectedData,
  KeyRevokedData,
} from '../../../schemas/index.ts';

/** `key.registered`: a signing key joined the registry. */
export interface KeyRegisteredEvent {
  type: 'key.registered';
  data: KeyRegisteredData;
}

/** `key.revoked`: a key verifies no input received from `revoked_at` on. */
export interface KeyRevokedEvent {
  type: 'key.revoked';
  data: KeyRevokedData;
}

/** `key.registration_rejected`: a registration was refused; the input is kept. */
export interface KeyRegistrationRejectedEvent {
  type: 'key.registration_rejected';
  data: KeyRegistrationRejectedData;
}

/** `key.revocation_rejected`: a revocation was refused; the input is kept. */
export interface KeyRevocationRejectedEvent {
  type: 'key.revocation_rejected';
  data: KeyRevocationRejectedData;
}

/** Every event the key registry's decider emits (stream `ledger-keys`). */
export type KeyEvent =
  KeyRegisteredEvent | KeyRevokedEvent | KeyRegistrationRejectedEvent | KeyRevocationRejectedEvent;
