import { describe, expect, it } from 'vitest';
import { answerMismatches, expectedCalls, walkthroughBlocks } from '../support/walkthrough.ts';

/* How the docs walkthrough test reads docs/api.md: what it refuses and what it counts as wrong. */

describe('walkthroughBlocks', () => {
  it('takes the marked sh blocks only, setup before serve apart', () => {
    const markdown = [
      '<!-- walkthrough: before serve -->',
      '',
      '```sh',
      'npx ledger tokens add --role auditor',
      '```',
      '```sh',
      'curl -s $B/not-walked',
      '```',
      '<!-- walkthrough -->',
      '```sh',
      'curl -s $B/healthz',
      '# 200 {"status":"ok"}',
      '```',
    ].join('\n');
    expect(walkthroughBlocks(markdown)).toEqual({
      beforeServe: ['npx ledger tokens add --role auditor'],
      served: ['curl -s $B/healthz\n# 200 {"status":"ok"}'],
    });
  });

  it('refuses a marker that is not followed by an sh block', () => {
    expect(() => walkthroughBlocks('<!-- walkthrough -->\n\nSome text.\n')).toThrow(/line 1/);
  });
});

describe('expectedCalls', () => {
  it('pairs each curl, continuation lines joined, with the status and answer under it', () => {
    const script = [
      'X=$(curl -s -X POST $B/missions \\',
      '  --data @d.json | jq -r .mission_id)',
      '# 201 {"mission_id":"msn_…",',
      '#      "position":1}',
      'jq . d.json   # no curl here',
      'curl -s $B/readyz',
      '# 503',
    ].join('\n');
    expect(expectedCalls(script)).toEqual([
      {
        command: 'X=$(curl -s -X POST $B/missions    --data @d.json | jq -r .mission_id)',
        status: 201,
        answer: ' {"mission_id":"msn_…",\n      "position":1}',
      },
      { command: 'curl -s $B/readyz', status: 503, answer: '' },
    ]);
  });

  it('refuses a curl without a status comment, and two curls on one line', () => {
    expect(() => expectedCalls('curl -s $B/healthz\necho done')).toThrow(/no "# NNN"/);
    expect(() => expectedCalls('curl -s $B/a; curl -s $B/b\n# 200')).toThrow(/one curl a line/);
  });
});

describe('answerMismatches', () => {
  const body = JSON.stringify({
    mission_id: 'msn_1',
    position: 4,
    duplicate: false,
    usage: { llm_calls: { used: 2 } },
  });

  it('accepts an answer with every key shown and every literal shown', () => {
    expect(answerMismatches('{"mission_id":"msn_…","position":4,"used":2,…}', body)).toEqual([]);
  });

  it('names a missing key and a literal the answer does not hold', () => {
    expect(answerMismatches('{"revision":0,"duplicate":true,"position":4}', body)).toEqual([
      'no "revision" in the answer',
      '"duplicate" is false, not true',
    ]);
  });

  it('reads an event stream by its data lines', () => {
    const stream = 'retry: 1000\n\nid: 5\nevent: x\ndata: {"position":5,"type":"x"}\n\n';
    expect(answerMismatches('data: {"position":5,"type":"x"}', stream)).toEqual([]);
    expect(answerMismatches('data: {"position":6}', stream)).toEqual(['"position" is 5, not 6']);
  });
});
