import type { FrozenMigration } from '../../../schema-migrations/frozen-migration.ts';

/**
 * The event log: `events` (a dense global position per event, one revision per stream position,
 * at most one event per idempotency key in a stream), `head` (one row holding the last position;
 * locking it serialises appends) and the first `append_batch`, which decides every batch in full.
 * The head row is inserted with literal values where kysely sent them as parameters.
 */
export const eventLog: FrozenMigration = {
  name: '0001_event_log',
  statements: (schema) => [
    `create table ${schema}."events" ("position" int8 primary key, "event_id" uuid not null unique, "stream_id" text not null, "revision" int8 not null, "type" text not null, "data" json not null, "metadata" json not null, "idempotency_key" text, constraint "events_stream_revision" unique ("stream_id", "revision"))`,
    `create unique index "events_stream_idempotency_key" on ${schema}."events" ("stream_id", "idempotency_key") where "idempotency_key" is not null`,
    `create table ${schema}."head" ("id" int4 primary key check (id = 1), "position" int8 not null)`,
    `insert into ${schema}."head" ("id", "position") values (1, 0)`,
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
begin
  select h.position into start_position from ${schema}."head" h where h.id = 1 for update;

  return query
  with appends as (
    select t.ord::int4 as a, t.stream, t.expected, t.n
      from unnest(a_stream, a_expected, a_count) with ordinality as t(stream, expected, n, ord)
  ), incoming as (
    select t.a, (row_number() over (partition by t.a order by t.ord) - 1)::int8 as k,
           t.id, t.type, t.data, t.metadata, t.key
      from unnest(
             e_append, e_id, e_type,
             array(select d from json_array_elements(e_data) with ordinality as j(d, o) order by o),
             array(select d from json_array_elements(e_metadata) with ordinality as j(d, o) order by o),
             e_key) with ordinality as t(a, id, type, data, metadata, key, ord)
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
