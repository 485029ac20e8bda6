-- The limiter at the floor (20261204006100_rate_limit_floor): the public RPC and the definer function run
-- the same statement and answer alike; windows start where the numeric formula they replaced put them;
-- only the public RPC's transaction commits asynchronously; the storage is the migration role's choice,
-- and public.rate_limit_storage() reports it. Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(14);

select tests.create_supabase_user('rl48-nobody');

-- Windows: date_bin on microseconds against floor(epoch / window) * window in numeric, at boundaries, just
-- before them, and for the shortest and longest windows the functions accept.
select is_empty(
  $$ select t, w from unnest(array[
       '2030-01-01 00:00:00+00', '2030-01-01 00:00:59.999999+00', '2030-01-01 00:01:00+00',
       '2029-12-31 23:59:59.999999+00', '2031-02-28 13:07:11.5+00', '1970-01-01 00:00:00+00',
       '2030-06-15 12:00:00.000001+00'
     ]::timestamptz[]) as t
     cross join unnest(array[1, 7, 60, 3600, 86400, 31622400]) as w
     cross join lateral (
       select c.reset_at
       from private.consume_rate_limit('t048-win', 'w' || w || '@' || t::text, 1, w, t) as c
     ) as got
     where got.reset_at - make_interval(secs => w)
       <> to_timestamp(floor(extract(epoch from t) / w) * w) $$,
  'every window starts where floor(epoch / window) * window puts it'
);

-- The definer function (SQL callers) leaves the transaction's commit as it was.
select tests.authenticate_as_service_role();
select results_eq(
  $$ select c.allowed, c.request_limit, c.remaining, c.retry_after_seconds
     from private.consume_rate_limit('t048', 'private-side', 2, 3600) as c $$,
  $$ values (true, 2, 1, 0) $$,
  'private.consume_rate_limit counts'
);
select is(
  current_setting('synchronous_commit'), 'on',
  'private.consume_rate_limit does not touch synchronous_commit (it runs inside payment transactions)'
);

-- The public RPC answers what the definer function answers for the same calls.
select results_eq(
  $$ select c.allowed, c."limit", c.remaining, c.reset_at, c.retry_after_seconds
     from public.consume_rate_limit('t048', 'public-side', 2, 3600) as c $$,
  $$ select c.allowed, c.request_limit, c.remaining, c.reset_at, c.retry_after_seconds
     from private.consume_rate_limit('t048', 'private-twin', 2, 3600) as c $$,
  'first call: the same answer as the definer function''s first call'
);
select is(
  current_setting('synchronous_commit'), 'off',
  'public.consume_rate_limit makes its own transaction commit asynchronously'
);
select results_eq(
  $$ select c.allowed, c."limit", c.remaining, c.retry_after_seconds > 0
     from public.consume_rate_limit('t048', 'public-side', 2, 3600) as c
     union all
     select c.allowed, c."limit", c.remaining, c.retry_after_seconds > 0
     from public.consume_rate_limit('t048', 'public-side', 2, 3600) as c $$,
  $$ select c.allowed, c.request_limit, c.remaining, c.retry_after_seconds > 0
     from private.consume_rate_limit('t048', 'private-twin', 2, 3600) as c
     union all
     select c.allowed, c.request_limit, c.remaining, c.retry_after_seconds > 0
     from private.consume_rate_limit('t048', 'private-twin', 2, 3600) as c $$,
  'second and third calls: allowed then refused with a retry, on both sides'
);
select results_eq(
  $$ select b.hits from private.rate_limit_buckets as b
     where b.namespace = 't048' and b.subject_hash in (sha256(convert_to('public-side', 'UTF8')),
                                                      sha256(convert_to('private-twin', 'UTF8')))
     order by b.subject_hash $$,
  $$ values (3), (3) $$,
  'both stored the same count, capped at limit + 1'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t048', 'x', 1, 31622401) $$, '22023', 'invalid_argument',
  'the public RPC still refuses a window longer than a year'
);
select throws_ok(
  $$ select * from private.consume_rate_limit('t048', repeat('é', 1025), 1, 60) $$, '22023',
  'invalid_argument', 'subjects are counted in characters, not bytes, as before (1025 characters)'
);
select lives_ok(
  $$ select * from private.consume_rate_limit('t048', repeat('é', 1024), 1, 60) $$,
  '1024 two-byte characters are a valid subject'
);

-- Storage: reported to the service role; only the owner (the migration role) can change it.
select is(public.rate_limit_storage(), 'logged', 'the buckets are logged by default');
select throws_ok(
  $$ alter table private.rate_limit_buckets set unlogged $$, '42501', null,
  'the service role cannot change the storage'
);
select tests.clear_authentication();
set local role postgres;
alter table private.rate_limit_buckets set unlogged;
select tests.authenticate_as_service_role();
select is(public.rate_limit_storage(), 'unlogged', 'the migration role made them unlogged; doctor sees it');
select tests.authenticate_as('rl48-nobody');
select throws_ok(
  $$ select public.rate_limit_storage() $$, '42501', null, 'a user cannot read the storage choice'
);

select * from finish();
rollback;
