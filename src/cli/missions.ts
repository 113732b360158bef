import { z } from 'zod';
import { storedEventSchema } from '../../schemas/stored-event.ts';
import { LedgerError } from '../errors.ts';
import { openClient, type ClientOptions, type LedgerClient } from './api-client.ts';
import { oneLine, reasonLine, showEvent } from './event-lines.ts';
import type { StoredEvent } from '../store/port.ts';

/**
 * A mission as `GET /v1/missions/{id}` shows it. Only what the text view prints is required;
 * the rest passes through untouched to `--json`.
 */
const text = z.string().nullish();
const missionSchema = z.looseObject({
  mission_id: z.string(),
  status: z.string(),
  mission_type: z.string(),
  objective: z.string(),
  identity: z.looseObject({
    vp_id: text,
    vp_session_id: text,
    vp_runtime_id: text,
    source_instance_id: text,
    target_instance_id: text,
    trace_id: text,
  }),
  usage: z.record(z.string(), z.unknown()),
  pending_commands: z.array(z.looseObject({ type: z.string(), reason: text, requested_by: text })),
  final: z.looseObject({ status: z.string(), summary: text, next_action: text }).nullable(),
  counts: z.looseObject({ accepted: z.number(), rejected: z.number() }),
  dispatched_at: z.string(),
  updated_at: z.string(),
});
type Mission = z.infer<typeof missionSchema>;

const missionPageSchema = z.looseObject({
  missions: z.array(missionSchema),
  next_cursor: z.string().nullable(),
});

const timelinePageSchema = z.looseObject({ events: z.array(storedEventSchema) });
/** The largest page `GET /v1/missions/{id}/events` serves. */
const TIMELINE_PAGE = 1000;

export interface MissionsListOptions extends ClientOptions {
  status?: string;
  type?: string;
  vp?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** `ledger missions list`: one page of missions, newest dispatch first, from the server. */
export async function runMissionsList(options: MissionsListOptions): Promise<void> {
  const client = await openClient(options);
  const page = await client.get(
    '/missions',
    {
      status: options.status,
      mission_type: options.type,
      vp_id: options.vp,
      limit: options.limit,
      cursor: options.cursor,
    },
    missionPageSchema,
  );
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatMissionList(page.missions));
  if (page.next_cursor !== null) {
    process.stderr.write(`more missions: add --cursor ${page.next_cursor}\n`);
  }
}

/** The missions as a table, one line each. */
export function formatMissionList(missions: readonly Mission[]): string {
  if (missions.length === 0) return 'no missions\n';
  const rows = missions.map((m) => [
    m.mission_id,
    m.status,
    m.mission_type,
    oneLine(m.identity.vp_id ?? '-', 40),
    m.dispatched_at,
    oneLine(m.objective, 60),
  ]);
  const header = ['MISSION', 'STATUS', 'TYPE', 'VP', 'DISPATCHED', 'OBJECTIVE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export interface MissionsShowOptions extends ClientOptions {
  json?: boolean;
}

/** `ledger missions show ID`: the mission's state and its whole timeline from the server. */
export async function runMissionsShow(id: string, options: MissionsShowOptions): Promise<void> {
  const client = await openClient(options);
  const path = `/missions/${encodeURIComponent(id)}`;
  const mission = await client.get(path, {}, missionSchema);
  const events = await timeline(client, path);
  process.stdout.write(
    options.json === true
      ? `${JSON.stringify({ mission, events }, null, 2)}\n`
      : formatMission(mission, events),
  );
}

/** Every event of the mission's stream, page by page. */
async function timeline(client: LedgerClient, path: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = await client.get(
      `${path}/events`,
      { from_revision: String(events.length), limit: String(TIMELINE_PAGE) },
      timelinePageSchema,
    );
    events.push(...page.events);
    if (page.events.length < TIMELINE_PAGE) return events;
    // Revisions are dense from 0: a page that does not continue where the last ended is not the
    // timeline this loop asked for.
    if (page.events[0]?.revision !== events.length - page.events.length) {
      throw new LedgerError('LOG_INTEGRITY_VIOLATION', `The timeline of ${path} has a gap.`);
    }
  }
}

/** The state of a mission, then its timeline: time, type, who, outcome, reasons of rejections. */
export function formatMission(mission: Mission, events: readonly StoredEvent[]): string {
  const identity = mission.identity;
  const lines = [
    `mission ${mission.mission_id}: ${mission.status} (${mission.mission_type})`,
    `  objective    ${oneLine(mission.objective, 200)}`,
    `  vp           ${identity.vp_id ?? '-'} session ${identity.vp_session_id ?? '-'} runtime ${identity.vp_runtime_id ?? '-'}`,
    `  instances    ${identity.source_instance_id ?? '-'} -> ${identity.target_instance_id ?? '-'}`,
    `  trace        ${identity.trace_id ?? '-'}`,
    `  dispatched   ${mission.dispatched_at}, updated ${mission.updated_at}`,
    `  usage        ${usageLine(mission.usage)}`,
    `  inputs       ${mission.counts.accepted} accepted, ${mission.counts.rejected} rejected`,
  ];
  for (const command of mission.pending_commands) {
    lines.push(
      `  pending      ${command.type} by ${command.requested_by ?? '-'}: ${oneLine(command.reason ?? '', 200)}`,
    );
  }
  if (mission.final !== null) {
    lines.push(
      `  final        ${mission.final.status}: ${oneLine(mission.final.summary ?? '', 200)}`,
    );
    if (typeof mission.final.next_action === 'string') {
      lines.push(`  next action  ${oneLine(mission.final.next_action, 200)}`);
    }
  }
  lines.push('', `timeline (${events.length} event${events.length === 1 ? '' : 's'}):`);
  for (const event of events) {
    const shown = showEvent(event);
    lines.push(
      [
        String(event.revision).padStart(4),
        event.metadata.recorded_at,
        event.type.padEnd(26),
        oneLine(shown.who, 60).padEnd(24),
        shown.outcome === 'rejected' ? 'REJECTED' : 'accepted',
        shown.detail,
      ]
        .join('  ')
        .trimEnd(),
    );
    for (const reason of shown.reasons) lines.push(reasonLine(reason));
  }
  return `${lines.join('\n')}\n`;
}

/** Each figure of `usage` that reads `{used, max, percent}`, as `name used/max (percent%)`. */
function usageLine(usage: Record<string, unknown>): string {
  const parts = Object.entries(usage).map(([name, value]) => {
    const figure = value as { used?: unknown; max?: unknown; percent?: unknown } | null;
    if (typeof figure !== 'object' || figure === null) return `${name} ${String(value)}`;
    const percent = typeof figure.percent === 'number' ? ` (${figure.percent}%)` : '';
    return `${name} ${String(figure.used)}/${String(figure.max)}${percent}`;
  });
  return parts.length === 0 ? '-' : parts.join(', ');
}
