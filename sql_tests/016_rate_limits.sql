-- private.rate_limit_buckets, consume_rate_limit() and cleanup: fixed windows aligned to the epoch, one row
-- per (namespace, hashed subject). Instants are passed explicitly through private.consume_rate_limit's
-- `now` argument. Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(43);

do $$
begin
  perform tests.create_supabase_user('rl-alice');
  perform tests.create_supabase_user('rl-admin');
  update public.user_roles set role = 'admin' where user_id = (select tests.get_supabase_uid('rl-admin'));
end
$$;

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('private', 'rate_limit_buckets', 'private.rate_limit_buckets exists');
select tests.rls_enabled('private', 'rate_limit_buckets');
select columns_are(
  'private', 'rate_limit_buckets', array['namespace', 'subject_hash', 'window_start', 'hits', 'reset_at'],
  'the buckets hold a hash of the subject, never the subject'
);
select col_type_is('private', 'rate_limit_buckets', 'subject_hash', 'bytea', 'the subject hash is bytes');


select tests.authenticate_as('rl-alice');
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 1, 60) $$, '42501', null,
  'a user cannot consume (or probe) a limit'
);
select throws_ok(
  $$ select 1 from private.rate_limit_buckets $$, '42501', null, 'a user cannot read the buckets'
);
select tests.authenticate_as('rl-admin');
select throws_ok(
  $$ select 1 from private.rate_limit_buckets $$, '42501', null,
  'an admin cannot read the buckets directly (admin_reset_rate_limit is the admin''s tool)'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 1, 60) $$, '42501', null,
  'an admin cannot consume a limit'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 1, 60) $$, '42501', null,
  'anon cannot consume a limit'
);
select throws_ok(
  $$ select 1 from private.rate_limit_buckets $$, '42501', null, 'anon cannot read the buckets'
);

-- Counting within one window -------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:00:10+00') $$,
  $$ values (true, 3, 2, '2030-01-01 00:01:00+00'::timestamptz, 0) $$,
  'first call: allowed, limit 3, 2 remaining, reset at the end of the aligned minute, no retry'
);
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:00:20+00') $$,
  $$ values (true, 3, 1, '2030-01-01 00:01:00+00'::timestamptz, 0) $$,
  'second call: 1 remaining'
);
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:00:30+00') $$,
  $$ values (true, 3, 0, '2030-01-01 00:01:00+00'::timestamptz, 0) $$,
  'third call: the last one allowed, 0 remaining'
);
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:00:40+00') $$,
  $$ values (false, 3, 0, '2030-01-01 00:01:00+00'::timestamptz, 20) $$,
  'fourth call: refused, retry after the seconds left in the window'
);
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:00:59.5+00') $$,
  $$ values (false, 3, 0, '2030-01-01 00:01:00+00'::timestamptz, 1) $$,
  'retry_after_seconds rounds up and is at least 1'
);
select results_eq(
  $$ select b.hits, b.window_start, b.reset_at from private.rate_limit_buckets as b
     where b.namespace = 't016' and b.subject_hash = sha256(convert_to('subject-1', 'UTF8')) $$,
  $$ values (4, '2030-01-01 00:00:00+00'::timestamptz, '2030-01-01 00:01:00+00'::timestamptz) $$,
  'refused calls are capped at limit + 1, so a flood cannot overflow the counter'
);

-- A new window starts over.
select results_eq(
  $$ select * from private.consume_rate_limit('t016', 'subject-1', 3, 60, '2030-01-01 00:01:00+00') $$,
  $$ values (true, 3, 2, '2030-01-01 00:02:00+00'::timestamptz, 0) $$,
  'the next window resets the count'
);
select results_eq(
  $$ select b.hits, b.window_start from private.rate_limit_buckets as b
     where b.namespace = 't016' and b.subject_hash = sha256(convert_to('subject-1', 'UTF8')) $$,
  $$ values (1, '2030-01-01 00:01:00+00'::timestamptz) $$,
  'still one row per key, now for the new window'
);
select results_eq(
  $$ select c.reset_at
     from private.consume_rate_limit('t016', 'subject-h', 5, 3600, '2030-01-01 10:59:59+00') as c $$,
  $$ values ('2030-01-01 11:00:00+00'::timestamptz) $$,
  'windows are aligned to the epoch, whatever the first call''s instant'
);

-- Keys are independent.
select results_eq(
  $$ select c.remaining
     from private.consume_rate_limit('t016', 'subject-2', 3, 60, '2030-01-01 00:01:05+00') as c $$,
  $$ values (2) $$,
  'another subject has its own count'
);
select results_eq(
  $$ select c.remaining
     from private.consume_rate_limit('t016-other', 'subject-1', 3, 60, '2030-01-01 00:01:05+00') as c $$,
  $$ values (2) $$,
  'another namespace has its own count'
);
select results_eq(
  $$ select c.allowed, c.remaining
     from private.consume_rate_limit('t016', 'subject-1', 1, 60, '2030-01-01 00:01:06+00') as c $$,
  $$ values (false, 0) $$,
  'the limit is the caller''s: the same key with a lower max is refused'
);

-- The subject is stored hashed.
select is_empty(
  $$ select 1 from private.rate_limit_buckets as b
     where position(convert_to('subject-1', 'UTF8') in b.subject_hash) > 0
        or encode(b.subject_hash, 'escape') like '%subject%' $$,
  'no bucket contains a subject in plain text'
);
select results_eq(
  $$ select octet_length(b.subject_hash) from private.rate_limit_buckets as b group by 1 $$,
  $$ values (32) $$,
  'every subject is a 32-byte SHA-256'
);

-- The public RPC --------------------------------------------------------------------------------------------
select results_eq(
  $$ select c.allowed, c."limit", c.remaining, c.retry_after_seconds
     from public.consume_rate_limit('t016-public', '203.0.113.7', 2, 60) as c $$,
  $$ values (true, 2, 1, 0) $$,
  'public.consume_rate_limit returns allowed, "limit", remaining, reset_at, retry_after_seconds'
);
select results_eq(
  $$ select c.reset_at > now() and c.reset_at <= now() + interval '60 seconds'
     from public.consume_rate_limit('t016-public', '203.0.113.7', 2, 60) as c $$,
  $$ values (true) $$,
  'it uses the current time'
);
select results_eq(
  $$ select c.allowed, c.retry_after_seconds > 0
     from public.consume_rate_limit('t016-public', '203.0.113.7', 2, 60) as c $$,
  $$ values (false, true) $$,
  'and refuses past the limit'
);

-- Invalid arguments: 22023 ----------------------------------------------------------------------------------
select throws_ok(
  $$ select * from public.consume_rate_limit(null, 'x', 1, 60) $$, '22023', 'invalid_argument', 'no namespace'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('', 'x', 1, 60) $$, '22023', 'invalid_argument',
  'an empty namespace'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('Upper', 'x', 1, 60) $$, '22023', 'invalid_argument',
  'a namespace outside [a-z0-9_.:-]'
);
select throws_ok(
  $$ select * from public.consume_rate_limit(repeat('n', 65), 'x', 1, 60) $$, '22023', 'invalid_argument',
  'a namespace longer than 64'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', null, 1, 60) $$, '22023', 'invalid_argument',
  'no subject'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', '', 1, 60) $$, '22023', 'invalid_argument',
  'an empty subject'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', repeat('s', 1025), 1, 60) $$,
  '22023', 'invalid_argument', 'a subject longer than 1024'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 0, 60) $$, '22023', 'invalid_argument',
  'max_requests below 1'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', null, 60) $$, '22023', 'invalid_argument',
  'no max_requests'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 1, 0) $$, '22023', 'invalid_argument',
  'window_seconds below 1'
);
select throws_ok(
  $$ select * from public.consume_rate_limit('t016', 'x', 1, 31622401) $$, '22023', 'invalid_argument',
  'window_seconds above a leap year'
);
select lives_ok(
  $$ select * from public.consume_rate_limit('a.b:c-d_9', repeat('s', 1024), 1, 31622400) $$,
  'the limits themselves are accepted'
);

-- Cleanup ---------------------------------------------------------------------------------------------------
-- As run_billing_cycle runs it: as the owner.
select tests.clear_authentication();
select results_eq(
  $$ select private.cleanup_rate_limit_buckets('2030-01-01 00:02:00+00') $$,
  $$ select count(*)::integer
     from private.rate_limit_buckets as b where b.reset_at <= '2030-01-01 00:02:00+00' $$,
  'cleanup removes every bucket whose window has ended, and says how many'
);
select is_empty(
  $$ select 1 from private.rate_limit_buckets as b where b.reset_at <= '2030-01-01 00:02:00+00' $$,
  'no expired bucket is left'
);
select results_eq(
  $$ select count(*) from private.rate_limit_buckets as b
     where b.namespace = 't016' and b.reset_at > '2030-01-01 00:02:00+00' $$,
  $$ values (1::bigint) $$,
  'a bucket whose window is still running stays'
);
select results_eq(
  $$ select private.cleanup_rate_limit_buckets('2030-01-01 00:02:00+00') $$, $$ values (0) $$,
  'a second cleanup has nothing to do'
);

select * from finish();
rollback;
