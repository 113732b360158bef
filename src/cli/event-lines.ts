import type { StoredEvent } from '../store/port.ts';

/** One reason a recorded input was rejected, as stored (`{code, message}`). */
export interface ShownReason {
  code: string;
  message: string;
}

/** What the CLI shows of one stored event: who, the outcome, a short detail and the reasons. */
export interface ShownEvent {
  who: string;
  outcome: 'accepted' | 'rejected';
  detail: string;
  reasons: ShownReason[];
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Reads an event for display. It relies only on the fields every version of the stored data
 * holds (rejections carry `reasons`, callbacks `callback.summary`, cancels `reason`, dispatches
 * `input.objective`) and shows anything else by its type alone, so a log of any age displays.
 */
export function showEvent(event: StoredEvent): ShownEvent {
  const data = event.data;
  const principal = record(data.principal);
  const who =
    text(event.metadata.actor) ??
    (text(principal.role) !== undefined && text(principal.id) !== undefined
      ? `${String(principal.role)}:${String(principal.id)}`
      : (text(data.requested_by) ?? '-'));
  const reasons = Array.isArray(data.reasons)
    ? data.reasons.map((r) => ({
        code: text(record(r).code) ?? '?',
        message: text(record(r).message) ?? '',
      }))
    : [];
  const detail =
    text(record(data.callback).summary) ??
    text(data.reason) ??
    text(record(data.input).objective) ??
    '';
  return {
    who,
    outcome: event.type.endsWith('_rejected') ? 'rejected' : 'accepted',
    detail: oneLine(detail, 100),
    reasons,
  };
}

/** `value` on one line (control characters and line breaks shown as spaces), at most `max` long. */
export function oneLine(value: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- stored text may hold any character; a terminal must not receive escape codes from it
  const flat = value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The line of `events tail`: position, time, stream, type, who, outcome and detail. */
export function eventLine(event: StoredEvent): string {
  const shown = showEvent(event);
  const lines = [
    [
      String(event.position).padStart(6),
      event.metadata.recorded_at,
      oneLine(event.stream, 60),
      event.type,
      oneLine(shown.who, 60),
      shown.outcome === 'rejected' ? 'REJECTED' : '',
      shown.detail,
    ]
      .filter((part) => part !== '')
      .join('  '),
  ];
  for (const reason of shown.reasons) lines.push(reasonLine(reason));
  return lines.join('\n');
}

/** A reason under its event: `- CODE: message`. */
export function reasonLine(reason: ShownReason): string {
  return `        - ${oneLine(reason.code, 60)}: ${oneLine(reason.message, 300)}`;
}
