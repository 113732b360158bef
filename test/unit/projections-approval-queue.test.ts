import { describe, expect, it } from 'vitest';
import { approvalQueueProjection, replayProjection, snapshot } from '../../projections/index.ts';
import { accepted, dispatched, missionIn } from './support/mission-given.ts';
import { EventLog, MISSION_ID, at, given, realisticLog } from './support/projection-given.ts';

const projection = approvalQueueProjection;

function blockedLog() {
  const log = new EventLog();
  log.mission(MISSION_ID, ...missionIn('running'));
  log.mission(
    MISSION_ID,
    accepted('mission.blocked', { summary: 'Needs approval for git.push.' }, at('09:20')),
  );
  return log;
}

describe('approval_queue', () => {
  it('given a running mission, when it blocks, then it is queued since that event', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('running'));
    const before = given(projection, log);
    const event = log.mission(
      MISSION_ID,
      accepted('mission.blocked', { summary: 'Needs approval for git.push.' }, at('09:20')),
    );
    expect(before.when(event).rows('approval_queue')).toEqual([
      {
        mission_id: MISSION_ID,
        since: at('09:20'),
        summary: 'Needs approval for git.push.',
        vp_id: 'vp.coder.primary',
        vp_session_id: 'vps_01JD8Z5YB2W9E4QK7TPM0RXAGD',
        target_instance_id: 'ua-factory-07',
        mission_type: 'coding',
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
        updated_at: at('09:20'),
        last_position: 3,
      },
    ]);
  });

  it('given a blocked mission, when it blocks again or reports an artifact, then since stays', () => {
    const log = blockedLog();
    const before = given(projection, log);
    const then = before.when(
      log.mission(
        MISSION_ID,
        accepted('mission.blocked', { summary: 'Still waiting.' }, at('09:50')),
      ),
    );
    expect(then.row('approval_queue', MISSION_ID)).toMatchObject({
      since: at('09:20'),
      summary: 'Still waiting.',
      updated_at: at('09:50'),
    });
    const artifact = given(projection, blockedLog()).when(
      blockedLog().mission(
        MISSION_ID,
        accepted('mission.artifact', { status: 'blocked', summary: 'Draft' }, at('09:30')),
      ),
    );
    expect(artifact.row('approval_queue', MISSION_ID)).toMatchObject({
      since: at('09:20'),
      summary: 'Needs approval for git.push.',
    });
  });

  it.each([
    'mission.progress',
    'mission.failed',
    'mission.cancelled',
    'mission.timed_out',
  ] as const)('given a blocked mission, when %s arrives, then it leaves the queue', (type) => {
    const log = blockedLog();
    const before = given(projection, log);
    const then = before.when(log.mission(MISSION_ID, accepted(type, {}, at('10:00'))));
    expect(then.rows('approval_queue')).toEqual([]);
  });

  it('given a closed mission, when a stray blocked event is replayed, then it is not queued', () => {
    const log = new EventLog();
    log.mission(MISSION_ID, ...missionIn('completed'));
    const before = given(projection, log);
    expect(before.when(log.mission(MISSION_ID, accepted('mission.blocked'))).changes).toEqual([]);
  });

  it('given nothing, when a blocked event names an undispatched mission, then no rows', () => {
    const log = new EventLog();
    expect(
      given(projection, log).when(log.mission(MISSION_ID, accepted('mission.blocked'))).changes,
    ).toEqual([]);
    expect(
      given(projection, log).when(log.mission('other', dispatched())).rows('approval_queue'),
    ).toEqual([]);
  });

  it('a whole sequence: queued while blocked, empty at the end', () => {
    const { events } = realisticLog();
    const whileBlocked = snapshot(replayProjection(projection, events.slice(0, 6)));
    expect(whileBlocked.approval_queue).toMatchObject([
      { mission_id: MISSION_ID, since: at('09:20') },
    ]);
    expect(snapshot(replayProjection(projection, events)).approval_queue).toBeUndefined();
  });
});
