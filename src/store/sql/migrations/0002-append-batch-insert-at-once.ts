import type { FrozenMigration } from '../../../schema-migrations/frozen-migration.ts';

/**
 * `append_batch` inserts at once when every append states its revision and lets the unique
 * indexes find a collision, deciding in full only then. Replaces the function whole; its
 * signature and result are those of 0001.
 */
export const appendBatchInsertAtOnce: FrozenMigration = {
  name: '0002_append_batch_insert_at_once',
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
  -- Ordinal (1-based) of each append's first event; events of an append are contiguous.
  a_first int4[] := array(
    select (coalesce(sum(n) over (order by o rows between unbounded preceding and 1 preceding), 0) + 1)::int4
      from unnest(a_count) with ordinality as u(n, o) order by o);
  -- Parsed before the lock, so the next batch parses while this one holds it.
  datas json[] := array(select d from json_array_elements(e_data) with ordinality as j(d, o) order by o);
  metas json[] := array(select d from json_array_elements(e_metadata) with ordinality as j(d, o) order by o);
begin
  select h.position into start_position from ${schema}."head" h where h.id = 1 for update;

  -- Fast path, when every append names the revision it expects (no_stream or a number), as the
  -- command path always does: insert everything at once and let the unique indexes find what
  -- would make an append fail. A stream already past its expected revision collides on
  -- (stream, revision); a used idempotency key (a retry, or a key reused) collides on
  -- (stream, key); a stream short of a numbered revision is found by one probe per append.
  -- Any of these undoes the inserts (the block's subtransaction) and the full decision below
  -- answers every append. Deciding up front costs about as much as the inserts themselves.
  if 0 <> all(a_count)
     and not exists (select from unnest(a_expected) x where x !~ '^([0-9]+|no_stream)$') then
    begin
      insert into ${schema}."events" (position, event_id, stream_id, revision, type, data, metadata, idempotency_key)
      select start_position + i.o, i.id, a_stream[i.a],
             (case a_expected[i.a] when 'no_stream' then -1 else a_expected[i.a]::int8 end)
               + i.o - a_first[i.a] + 1,
             i.type, i.data, i.metadata, i.key
        from unnest(e_append, e_id, e_type, datas, metas, e_key)
               with ordinality as i(a, id, type, data, metadata, key, o);
      if exists (
        select from unnest(a_stream, a_expected) as t(stream, expected)
         where t.expected <> 'no_stream'
           and not exists (select from ${schema}."events" e
                            where e.stream_id = t.stream and e.revision = t.expected::int8)) then
        raise exception using errcode = 'LF001';
      end if;
      new_head := start_position + cardinality(e_id);
      update ${schema}."head" set position = new_head where id = 1;
      perform pg_notify(channel, new_head::text);
      return query
      select 'ok'::text,
             array(select t.base + g from generate_series(1, t.n) g),
             array(select start_position + t.first - 1 + g from generate_series(1, t.n) g),
             t.base + t.n
        from (select case u.expected when 'no_stream' then -1 else u.expected::int8 end as base,
                     u.n::int8 as n, u.first::int8 as first, u.o
                from unnest(a_expected, a_count, a_first) with ordinality as u(expected, n, first, o)) t
       order by t.o;
      return;
    exception when unique_violation or sqlstate 'LF001' then
      null; -- undone; decided in full below
    end;
  end if;

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
