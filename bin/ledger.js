#!/usr/bin/env node
// The `ledger` command. It runs the TypeScript sources directly (through tsx), so a checkout
// works right after `npm install`, with no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
