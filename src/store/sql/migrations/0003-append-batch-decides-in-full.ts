import type { FrozenMigration } from '../../../schema-migrations/frozen-migration.ts';

/**
 * The insert-at-once path leaves `append_batch` for one statement the store sends itself
 * (append-statement.ts); the function answers only what that statement refuses, deciding every
 * append in full. This is the body the store calls: its signature and result columns are the
 * contract of sql-store.ts.
 *
 * Payloads arrive as one JSON array text each for data and metadata: json_array_elements keeps
 * every element's text exactly. The caller sends at most one append per stream in a batch, which
 * makes each append's decision independent of its neighbours. Steps: parse the payloads (before
 * the lock, so the next batch parses while this one holds it); lock the head row (serialising
 * writers across processes, so positions are dense and commit in order); then, in a fresh
 * statement whose snapshot sees the previous holder's commit, find each stream's revision and
 * the events already holding the batch's idempotency keys; decide each append (`ok`,
 * `duplicate`, `conflict`, `key_reused`) by the rules of src/store/append-plan.ts; insert the
 * `ok` events at consecutive positions; move the head; notify. Idempotent content is compared as
 * jsonb: key order and number spelling do not matter.
 */
export const appendBatchDecidesInFull: FrozenMigration = {
  name: '0003_append_batch_decides_in_full',
  statements: (schema) => [
    `
create or replace function ${schema}."append_batch"(
  a_stream text[], a_expected text[], a_count int4[],
  e_append int4[], e_id uuid[], e_type text[], e_data json, e_metadata json, e_key text[],
  channel text)
returns table (outcome text, revisions int8[], positions int8[], stream_revision int8)
language plpgsql volatile
-- Custom plans would re-plan the batch query on every call (about 0.6 ms, more than running it).
set plan_cache_mode = force_generic_plan
as $fn$
declare
  start_position int8;
  new_head int8;
  -- Parsed before the lock, so the next batch parses while this one holds it.
  datas json[] := array(select d from json_array_elements(e_data) with ordinality as j(d, o) order by o);
  metas json[] := array(select d from json_array_elements(e_metadata) with ordinality as j(d, o) order by o);
begin
  select h.position into start_position from ${schema}."head" h where h.id = 1 for update;

  return query
  with appends as (
    select t.ord::int4 as a, t.stream, t.expected, t.n
      from unnest(a_stream, a_expected, a_count) with ordinality as t(stream, expected, n, ord)
  ), incoming as (
    select t.a, (row_number() over (partition by t.a order by t.ord) - 1)::int8 as k,
           t.id, t.type, t.data, t.metadata, t.key
      from unnest(e_append, e_id, e_type, datas, metas, e_key)
             with ordinality as t(a, id, type, data, metadata, key, ord)
  ), matched as (
    -- A lateral LIMIT 1 stays a parameterised index probe: a plain join could be planned as a
    -- hash join over a sequential scan, and generic plans are cached for the whole session.
    select i.a, count(*) as found, bool_and(x.type = i.type and x.data::jsonb = i.data::jsonb) as all_same,
           array_agg(x.revision order by i.k) as revs, array_agg(x.position order by i.k) as poss
      from incoming i
      join appends ap on ap.a = i.a
      cross join lateral (
        select e.type, e.data, e.revision, e.position from ${schema}."events" e
         where e.stream_id = ap.stream and e.idempotency_key = i.key limit 1
      ) x
     where i.key is not null
     group by i.a
  ), decided as (
    select ap.a, ap.stream, ap.n, cur.rev,
           case
             when m.found is null then
               case when ap.expected = 'any'
                      or (ap.expected = 'no_stream' and cur.rev = -1)
                      or (ap.expected = 'stream_exists' and cur.rev >= 0)
                      or (ap.expected ~ '^[0-9]+$' and cur.rev = ap.expected::int8)
                    then 'ok' else 'conflict' end
             when m.found = ap.n and m.all_same then 'duplicate'
             else 'key_reused'
           end as outcome,
           m.revs, m.poss
      from appends ap
      cross join lateral (
        select coalesce(max(x.revision), -1)::int8 as rev from ${schema}."events" x where x.stream_id = ap.stream
      ) cur
      left join matched m on m.a = ap.a
  ), placed as (
    select d.*, start_position + coalesce(sum(d.n) filter (where d.outcome = 'ok')
             over (order by d.a rows between unbounded preceding and 1 preceding), 0)::int8 as base
      from decided d
  ), inserted as (
    insert into ${schema}."events" (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
    select p.base + i.k + 1, i.id, p.stream, p.rev + i.k + 1, i.type, i.data, i.metadata, i.key
      from placed p join incoming i on i.a = p.a
     where p.outcome = 'ok'
  )
  select p.outcome,
         case p.outcome when 'ok' then array(select p.rev + g from generate_series(1, p.n) g)
                        when 'duplicate' then p.revs end,
         case p.outcome when 'ok' then array(select p.base + g from generate_series(1, p.n) g)
                        when 'duplicate' then p.poss end,
         case p.outcome when 'ok' then p.rev + p.n else p.rev end
    from placed p order by p.a;

  select coalesce(max(x.position), start_position) into new_head
    from ${schema}."events" x where x.position > start_position;
  if new_head > start_position then
    update ${schema}."head" set position = new_head where id = 1;
    perform pg_notify(channel, new_head::text);
  end if;
end
$fn$`,
  ],
};
