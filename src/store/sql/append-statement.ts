/**
 * The common append, in one statement: every append of the batch states the revision it expects
 * (`no_stream` or a number, as the command path always does), none of them collides, and the
 * batch is written at once. The statement moves the head (its row lock serialises writers across
 * processes, so positions are dense and commit in order), inserts every event at the positions
 * after the old head, and notifies subscribers. It returns the old head, from which the caller
 * computes every revision and position; or no row, when a numbered append's stream is short of
 * the revision it expects.
 *
 * What makes an append fail is found without deciding first. A stream already past its expected
 * revision collides on (stream, revision) and a used idempotency key (a retry, or a key reused)
 * on (stream, key): the statement fails with a unique violation and writes nothing. A stream short
 * of a numbered revision is found by one index probe per append, read in the statement's snapshot:
 * rows are never removed, so a probe that finds the revision is right, and one that misses it
 * because its snapshot predates the previous head holder's commit only sends the batch on to the
 * full decision. In both cases the caller runs `append_batch`, which decides every append in full.
 *
 * Being plain SQL rather than the PL/pgSQL function, it costs no function call, no subtransaction
 * and no per-step statement: about 0.2 ms less per batch, a sixth of a 32-event batch.
 *
 * Parameters: $1 and $2 the stream and expected revision of each numbered append (the probes);
 * then per event, in batch order: $3 id, $4 stream, $5 revision, $6 type, $7 idempotency key, $8
 * data and $9 metadata (each one JSON array text: json_array_elements keeps every element's text
 * exactly, and the client is spared escaping each into an array literal); $10 the notification
 * channel.
 */
export function appendStatement(schema: string): string {
  const events = `"${schema}"."events"`;
  const head = `"${schema}"."head"`;
  const elements = (param: string) =>
    `array(select j.value from json_array_elements(${param}::json) with ordinality as j(value, o) order by j.o)`;
  return `with short as (
  select from unnest($1::text[], $2::int8[]) as p(stream, revision)
   where not exists (select from ${events} e where e.stream_id = p.stream and e.revision = p.revision)
   limit 1
), moved as (
  update ${head} set position = position + cardinality($3::uuid[])
   where id = 1 and not exists (select from short)
  returning position - cardinality($3::uuid[]) as start
), inserted as (
  insert into ${events} (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
  select m.start + e.o, e.id, e.stream, e.revision, e.type, e.data, e.metadata, e.key
    from moved m
    cross join unnest($3::uuid[], $4::text[], $5::int8[], $6::text[], $7::text[],
                      ${elements('$8')}, ${elements('$9')}) with ordinality
            as e(id, stream, revision, type, key, data, metadata, o)
)
select m.start::text as start, pg_notify($10, (m.start + cardinality($3::uuid[]))::text) from moved m`;
}
