-- AI usage: who reads and calls what. public.ai_usage (each user reads their own rows), my_ai_usage() (this
-- UTC month's numbers, the caller's only), the private counters and holds (nobody but the service role), the
-- reserve and commit RPCs (the service role only) and what deleting a user removes. Quotas are 033's, holds
-- 034's. my_ai_usage() is about the current UTC month, so this file uses the real clock. Runs as
-- `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(42);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from private.ai_holds;

do $$
begin
  perform tests.create_supabase_user('ai-bob');
  perform tests.create_supabase_user('ai-carol');
  perform tests.create_supabase_user('ai-admin');
end
$$;
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('ai-admin');

-- A small plan so the limits are reached in a few calls: 1000 tokens a month, 3 requests a minute.
insert into public.plans (
  code, name, ai_monthly_token_cap, ai_requests_per_window, ai_window_seconds, ai_model
) values ('AI_TEST', 'AI test', 1000, 3, 60, 'test-model');
update public.subscriptions set plan_code = 'AI_TEST'
where user_id = tests.get_supabase_uid('ai-bob');

-- What reserve_ai_usage answered, by label, for the assertions below.
create temporary table reservations (
  label text primary key,
  reservation_id uuid,
  model text,
  allowed boolean,
  reason text,
  retry_after_seconds integer,
  remaining_tokens bigint,
  request_limit integer
) on commit drop;
grant select, insert on reservations to service_role;
grant select on reservations to authenticated;

-- Reserve for the test user `identifier` (at the instant `at`; without one, through the public RPC, now)
-- and remember the answer under `label`.
create function pg_temp.reserve(label text, identifier text, estimate integer, at timestamptz default null)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if at is null then
    insert into pg_temp.reservations
    select reserve.label, r.* from public.reserve_ai_usage(tests.get_supabase_uid(identifier), estimate) as r;
  else
    insert into pg_temp.reservations
    select reserve.label, r.*
    from private.reserve_ai_usage(tests.get_supabase_uid(identifier), estimate, at) as r;
  end if;
end
$$;
grant execute on function pg_temp.reserve(text, text, integer, timestamptz) to service_role;


-- Shape and access rules ------------------------------------------------------------------------------
select has_table('public', 'ai_usage', 'public.ai_usage exists');
select tests.rls_enabled('public', 'ai_usage');
select policies_are('public', 'ai_usage', array['ai_usage_select_own'], 'ai_usage has one policy: own rows');
select policy_cmd_is('public', 'ai_usage', 'ai_usage_select_own', 'select', 'it is a select policy');
select policy_roles_are(
  'public', 'ai_usage', 'ai_usage_select_own', array['authenticated'], 'for authenticated only'
);
select has_index(
  'public', 'ai_usage', 'ai_usage_user_created_idx', array['user_id', 'created_at'], 'the user FK is indexed'
);
select col_is_unique('public', 'ai_usage', array['request_id'], 'one usage row per reservation');

select tests.rls_enabled('private', 'ai_monthly_usage');
select tests.rls_enabled('private', 'ai_holds');
select has_index('private', 'ai_holds', 'ai_holds_user_idx', array['user_id'], 'the hold user FK is indexed');
select col_default_is('private', 'settings', 'ai_hold_seconds', '600', 'a hold lives 10 minutes by default');
select throws_ok(
  $$ update private.settings set ai_hold_seconds = 29 $$, '23514', null, 'a hold lives at least 30 seconds'
);

-- The RPCs are invoker.
select isnt_definer(
  'public', 'reserve_ai_usage', array['uuid', 'integer'], 'public.reserve_ai_usage is invoker'
);
select isnt_definer(
  'public', 'commit_ai_usage', array['uuid', 'text', 'text', 'integer', 'integer'],
  'commit_ai_usage is invoker'
);
select isnt_definer('public', 'my_ai_usage', array[]::text[], 'public.my_ai_usage is invoker');

-- Bob's usage is in 2030 (one committed request).
select tests.authenticate_as_service_role();
select pg_temp.reserve('b1', 'ai-bob', 10, '2030-01-15 12:30:00+00');
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 5, 5) from reservations as r
     where r.label = 'b1' $$,
  'setup: bob has one request in January 2030'
);

-- my_ai_usage: this month's numbers, the caller's only ---------------------------------------------------
-- Carol (FREE) uses AI now: 300 tokens committed, 400 held, and some in 2030. Bob: 2030 only.
-- (The 2030 reservation comes first: reserving at an instant releases the holds expired by then.)
select pg_temp.reserve('c1', 'ai-carol', 500);
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 200, 100) from reservations as r
     where r.label = 'c1' $$,
  'carol''s first request is committed'
);
select pg_temp.reserve('c3', 'ai-carol', 50, '2030-03-01 00:00:00+00');
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 20, 30) from reservations as r
     where r.label = 'c3' $$,
  'carol also has usage in another month'
);
select pg_temp.reserve('c2', 'ai-carol', 400);
select results_eq(
  $$ select r.label, r.allowed from reservations as r where r.label like 'c%' order by r.label $$,
  $$ values ('c1', true), ('c2', true), ('c3', true) $$,
  'public.reserve_ai_usage uses the current time'
);

select tests.authenticate_as('ai-carol');
select results_eq(
  $$ select * from public.my_ai_usage() $$,
  $$ values (
       date_trunc('month', now() at time zone 'UTC')::date, 300::bigint, 400::bigint, 1, 50000::bigint,
       49300::bigint, 'FREE'
     ) $$,
  'my_ai_usage: this UTC month''s used and held tokens, requests, cap, remaining and plan'
);
select results_eq(
  $$ select u.request_id, u.prompt_tokens + u.completion_tokens from public.ai_usage as u order by u.id $$,
  $$ select r.reservation_id, t.tokens from reservations as r
     inner join (values ('c1', 300), ('c3', 50)) as t (label, tokens) on r.label = t.label order by r.label $$,
  'a user reads exactly their own ai_usage rows'
);
select throws_ok(
  $$ insert into public.ai_usage (user_id, request_id, provider, model, prompt_tokens, completion_tokens)
     values (tests.get_supabase_uid('ai-carol'), gen_random_uuid(), 'x', 'y', 0, 0) $$,
  '42501', null, 'a user cannot insert usage'
);
select throws_ok(
  $$ update public.ai_usage set prompt_tokens = 0 $$, '42501', null, 'a user cannot change usage'
);
select throws_ok($$ delete from public.ai_usage $$, '42501', null, 'a user cannot delete usage');
select throws_ok(
  $$ select 1 from private.ai_monthly_usage $$, '42501', null, 'a user cannot read the month counters'
);
select throws_ok($$ select 1 from private.ai_holds $$, '42501', null, 'a user cannot read the holds');
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), 1) $$, '42501', null,
  'a user cannot reserve, not even for themselves'
);
select throws_ok(
  $$ select * from private.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), 1) $$, '42501', null,
  'nor through the private function'
);
select throws_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 0, 0) from reservations as r
     where r.label = 'c2' $$,
  '42501', null, 'a user cannot commit'
);
select throws_ok(
  $$ select private.release_expired_ai_holds() $$, '42501', null, 'a user cannot release holds'
);

-- Another user.
select tests.authenticate_as('ai-bob');
select results_eq(
  $$ select m.used_tokens, m.held_tokens, m.requests, m.cap, m.plan_code from public.my_ai_usage() as m $$,
  $$ values (0::bigint, 0::bigint, 0, 1000::bigint, 'AI_TEST') $$,
  'bob''s my_ai_usage shows his own numbers: nothing this month (his usage is in 2030), his plan''s cap'
);
select results_eq(
  $$ select u.request_id, u.user_id = tests.get_supabase_uid('ai-bob') from public.ai_usage as u $$,
  $$ select r.reservation_id, true from reservations as r where r.label = 'b1' $$,
  'bob reads exactly his own ai_usage row, none of carol''s'
);
select tests.authenticate_as('ai-admin');
select is_empty($$ select 1 from public.ai_usage $$, 'an admin sees no ai_usage rows of others either');
select results_eq(
  $$ select m.used_tokens, m.requests, m.plan_code from public.my_ai_usage() as m $$,
  $$ values (0::bigint, 0, 'FREE') $$,
  'an admin''s my_ai_usage is their own'
);

-- Signed-in role without a user id (a malformed token): PT401.
do $$ begin perform set_config('request.jwt.claims', '{"role": "authenticated"}', true); end $$;
select throws_ok(
  $$ select * from public.my_ai_usage() $$, 'PT401', 'not_authenticated', 'no sub claim: PT401'
);

-- anon --------------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.ai_usage $$, '42501', null, 'anon cannot read ai_usage');
select throws_ok($$ select * from public.my_ai_usage() $$, '42501', null, 'anon cannot call my_ai_usage');
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), 1) $$, '42501', null,
  'anon cannot reserve'
);
select throws_ok(
  $$ select public.commit_ai_usage(gen_random_uuid(), 'openai', 'gpt-test', 0, 0) $$, '42501', null,
  'anon cannot commit'
);

-- service_role reads everything, but has no "my" usage.
select tests.authenticate_as_service_role();
select cmp_ok(
  (select count(*) from public.ai_usage), '>=', 3::bigint, 'service_role reads every ai_usage row'
);
select throws_ok(
  $$ select * from public.my_ai_usage() $$, '42501', null, 'service_role cannot call my_ai_usage'
);
select tests.clear_authentication();

-- Deleting a user removes their usage, counters and holds.
delete from auth.users
where id = tests.get_supabase_uid('ai-carol');
select is_empty(
  $$ select 1 from public.ai_usage as u where u.request_id in (select r.reservation_id from reservations as r
     where r.label like 'c%')
     union all select 1 from private.ai_holds as h where h.id in (select r.reservation_id from reservations as r
     where r.label like 'c%') $$,
  'a deleted user''s ai_usage rows and holds are gone'
);

select * from finish();
rollback;
