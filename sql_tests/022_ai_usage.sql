-- AI usage and quotas: public.ai_usage, private.ai_monthly_usage, private.ai_holds, reserve_ai_usage(),
-- commit_ai_usage(), my_ai_usage(), private.release_expired_ai_holds() and private.effective_plan().
-- Instants are passed through private.reserve_ai_usage's `now` argument; my_ai_usage() is about the
-- current UTC month, so its section uses the real clock. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(99);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from private.ai_holds;

do $$
begin
  perform tests.create_supabase_user('ai-alice');
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
where user_id in (tests.get_supabase_uid('ai-alice'), tests.get_supabase_uid('ai-bob'));

-- What reserve_ai_usage answered, by label; and the month row of a user, for the assertions below.
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

create temporary view alice_month as
select
  m.month,
  m.used_tokens,
  m.held_tokens,
  m.requests
from private.ai_monthly_usage as m
where m.user_id = tests.get_supabase_uid('ai-alice');
grant select on alice_month to service_role;

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

-- The UTC month -------------------------------------------------------------------------------------------
set local timezone = 'Asia/Jakarta';
select is(
  private.utc_month('2030-01-31 20:00:00+00'), '2030-01-01'::date,
  'the month is the UTC month, whatever the session time zone (already February in Jakarta)'
);
select is(
  private.utc_month('2030-01-31 20:00:00-05'), '2030-02-01'::date,
  'an instant given in another zone counts in the UTC month it falls in'
);
set local timezone = 'UTC';

-- The effective plan ------------------------------------------------------------------------------------
select is(
  (private.effective_plan(tests.get_supabase_uid('ai-alice'))).code, 'AI_TEST',
  'an active subscription''s plan is the effective plan'
);
select is(
  (private.effective_plan(tests.get_supabase_uid('ai-carol'))).code, 'FREE', 'a new user is on FREE'
);

-- Reserve and commit (service_role) ---------------------------------------------------------------------
select tests.authenticate_as_service_role();
select pg_temp.reserve('r1', 'ai-alice', 300, '2030-01-15 12:00:00+00');
select results_eq(
  $$ select r.allowed, r.reason, r.model, r.retry_after_seconds, r.remaining_tokens,
       r.reservation_id is not null
     from reservations as r where r.label = 'r1' $$,
  $$ values (true, null::text, 'test-model', 0, 700::bigint, true) $$,
  'a reservation within the limits: allowed, the plan''s model, cap minus the estimate remaining'
);
select results_eq(
  $$ select h.user_id = tests.get_supabase_uid('ai-alice'), h.month, h.estimated_tokens, h.model, h.status,
       h.created_at, h.expires_at
     from private.ai_holds as h inner join reservations as r on h.id = r.reservation_id where r.label = 'r1' $$,
  $$ values (
       true, '2030-01-01'::date, 300, 'test-model', 'held',
       '2030-01-15 12:00:00+00'::timestamptz, '2030-01-15 12:10:00+00'::timestamptz
     ) $$,
  'it holds the estimate in the UTC month until settings.ai_hold_seconds later'
);
select results_eq(
  $$ select a.month, a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values ('2030-01-01'::date, 0::bigint, 300::bigint, 0) $$,
  'the month row counts the estimate as held'
);

select results_eq(
  $$ select u.user_id = tests.get_supabase_uid('ai-alice'), u.request_id = r.reservation_id, u.provider,
       u.model, u.prompt_tokens, u.completion_tokens
     from reservations as r,
       lateral public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 100, 150) as u
     where r.label = 'r1' $$,
  $$ values (true, true, 'openai', 'gpt-test', 100, 150) $$,
  'commit records the real usage under the reservation id'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values (250::bigint, 0::bigint, 1) $$,
  'commit turns the hold into used tokens and counts the request'
);
select results_eq(
  $$ select h.status from private.ai_holds as h inner join reservations as r on h.id = r.reservation_id
     where r.label = 'r1' $$,
  $$ values ('committed') $$,
  'the hold is committed'
);
select results_eq(
  $$ select u.prompt_tokens, u.completion_tokens, u.provider
     from reservations as r,
       lateral public.commit_ai_usage(r.reservation_id, 'anthropic', 'other', 999, 999) as u
     where r.label = 'r1' $$,
  $$ values (100, 150, 'openai') $$,
  'a repeated commit returns the first one''s row'
);
select results_eq(
  $$ select count(*) from public.ai_usage as u inner join reservations as r on u.request_id = r.reservation_id
     where r.label = 'r1' $$,
  $$ values (1::bigint) $$,
  'a repeated commit records nothing more'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values (250::bigint, 0::bigint, 1) $$,
  'and counts nothing more'
);

-- The monthly cap, and the per-window request limit ----------------------------------------------------
select pg_temp.reserve('r2', 'ai-alice', 400, '2030-01-15 12:00:01+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r2' $$,
  $$ values (true, 350::bigint) $$,
  'a second reservation: remaining is cap - used - held'
);
select pg_temp.reserve('r3', 'ai-alice', 500, '2030-01-15 12:00:02+00');
select results_eq(
  $$ select r.allowed, r.reason, r.remaining_tokens from reservations as r where r.label = 'r3' $$,
  $$ values (true, null::text, 0::bigint) $$,
  'admitted while used + held is below the cap, even if the estimate goes past it; nothing remains'
);
select results_eq(
  $$ select a.used_tokens + a.held_tokens - 1000 from alice_month as a $$,
  $$ values (150::bigint) $$,
  'the cap is overshot by less than one request''s estimate'
);
select pg_temp.reserve('r4', 'ai-alice', 1, '2030-01-15 12:00:03+00');
select results_eq(
  $$ select r.allowed, r.reason, r.model, r.retry_after_seconds, r.remaining_tokens, r.reservation_id
     from reservations as r where r.label = 'r4' $$,
  $$ values (false, 'rate_limited', 'test-model', 57, 0::bigint, null::uuid) $$,
  'the 4th request in a minute on a 3-a-minute plan: rate_limited, retry when the window ends'
);
select results_eq(
  $$ select r.label, r.request_limit from reservations as r where r.label in ('r2', 'r4') order by r.label $$,
  $$ values ('r2', 3), ('r4', 3) $$,
  'admitted or refused, the answer names the request limit it was decided by (X-RateLimit-Limit)'
);
select pg_temp.reserve('r5', 'ai-alice', 1, '2030-01-15 12:01:00+00');
select results_eq(
  $$ select r.allowed, r.reason, r.retry_after_seconds, r.remaining_tokens, r.reservation_id
     from reservations as r where r.label = 'r5' $$,
  $$ select false, 'monthly_cap_reached',
       extract(epoch from '2030-02-01 00:00:00+00'::timestamptz - '2030-01-15 12:01:00+00')::integer,
       0::bigint, null::uuid $$,
  'in the next window, with used + held at the cap: monthly_cap_reached, retry at the next UTC month'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests, (
       select count(*) from private.ai_holds as h where h.user_id = tests.get_supabase_uid('ai-alice')
     )
     from alice_month as a $$,
  $$ values (250::bigint, 900::bigint, 1, 3::bigint) $$,
  'refused reservations hold nothing and create no hold'
);

-- Expired holds --------------------------------------------------------------------------------------------
-- The sweep, as its definer callers run it: as the owner.
set local role postgres;
select is(
  private.release_expired_ai_holds('2030-01-15 12:10:00.5+00'), 0,
  'no hold has expired before its expires_at'
);
select is(
  private.release_expired_ai_holds('2030-01-15 12:10:01+00'), 1,
  'at its expires_at the first open hold is released'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select r.label, h.status
     from private.ai_holds as h inner join reservations as r on h.id = r.reservation_id
     order by r.label $$,
  $$ values ('r1', 'committed'), ('r2', 'released'), ('r3', 'held') $$,
  'only the expired hold is released'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens from alice_month as a $$,
  $$ values (250::bigint, 500::bigint) $$,
  'its estimate no longer counts as held'
);
select pg_temp.reserve('r6', 'ai-alice', 100, '2030-01-15 12:10:02+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r6' $$,
  $$ values (true, 650::bigint) $$,
  'reserving releases the user''s own expired holds first, so quota comes back'
);
select results_eq(
  $$ select h.status from private.ai_holds as h inner join reservations as r on h.id = r.reservation_id
     where r.label = 'r3' $$,
  $$ values ('released') $$,
  'the hold that expired meanwhile is released'
);

select results_eq(
  $$ select u.prompt_tokens + u.completion_tokens
     from reservations as r, lateral public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 10, 20) as u
     where r.label = 'r2' $$,
  $$ values (30) $$,
  'a commit after its hold expired still records the usage (the request did happen)'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values (280::bigint, 100::bigint, 2) $$,
  'it counts the usage without taking the released estimate off the held tokens a second time'
);
select results_eq(
  $$ select a.held_tokens from alice_month as a $$,
  $$ select coalesce(sum(h.estimated_tokens), 0)::bigint from private.ai_holds as h
     where h.user_id = tests.get_supabase_uid('ai-alice') and h.status = 'held' and h.month = '2030-01-01' $$,
  'held tokens are exactly the open holds'' estimates'
);
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 50, 50) from reservations as r
     where r.label = 'r6' $$,
  'r6 is committed'
);
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values (380::bigint, 0::bigint, 3) $$,
  'used 380 tokens in 3 requests, nothing held'
);
select results_eq(
  $$ select count(*), sum(u.prompt_tokens + u.completion_tokens)
     from public.ai_usage as u where u.user_id = tests.get_supabase_uid('ai-alice') $$,
  $$ values (3::bigint, 380::bigint) $$,
  'ai_usage has one row per committed request and the same total'
);

-- release_expired_ai_holds for everyone.
select pg_temp.reserve('b1', 'ai-bob', 10, '2030-01-15 12:30:00+00');
set local role postgres;
select is(
  private.release_expired_ai_holds('2030-01-15 12:40:00+00'), 1,
  'the sweep releases every user''s expired holds'
);
select results_eq(
  $$ select m.held_tokens from private.ai_monthly_usage as m
     where m.user_id = tests.get_supabase_uid('ai-bob') $$,
  $$ values (0::bigint) $$,
  'and gives their estimates back'
);
select is(
  private.release_expired_ai_holds('2030-01-15 12:40:00+00'), 0, 'a second sweep has nothing to do'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 5, 5) from reservations as r
     where r.label = 'b1' $$,
  'bob''s request is committed after the sweep'
);

-- A plan change changes the cap ------------------------------------------------------------------------
select pg_temp.reserve('r7', 'ai-alice', 700, '2030-01-31 23:00:00+00');
select pg_temp.reserve('r8', 'ai-alice', 1, '2030-01-31 23:00:01+00');
select results_eq(
  $$ select r.label, r.allowed, r.reason, r.retry_after_seconds, r.remaining_tokens
     from reservations as r where r.label in ('r7', 'r8') order by r.label $$,
  $$ values ('r7', true, null::text, 0, 0::bigint), ('r8', false, 'monthly_cap_reached', 3599, 0::bigint) $$,
  'alice reaches her AI_TEST cap an hour before the month ends; retry_after is that hour'
);
select tests.clear_authentication();
update public.subscriptions set plan_code = 'PRO', current_period_end = '2030-02-15 00:00:00+00'
where user_id = tests.get_supabase_uid('ai-alice');
select tests.authenticate_as_service_role();
select pg_temp.reserve('r9', 'ai-alice', 1, '2030-01-31 23:00:02+00');
select results_eq(
  $$ select r.allowed, r.model, r.remaining_tokens from reservations as r where r.label = 'r9' $$,
  $$ values (true, null::text, (2000000 - 380 - 701)::bigint) $$,
  'on PRO the same month''s usage is measured against PRO''s cap (and PRO''s model)'
);
select tests.clear_authentication();
update public.subscriptions set status = 'past_due', past_due_since = '2030-01-20 00:00:00+00'
where user_id = tests.get_supabase_uid('ai-alice');
select tests.authenticate_as_service_role();
select pg_temp.reserve('r10', 'ai-alice', 1, '2030-01-31 23:00:03+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r10' $$,
  $$ values (true, (2000000 - 380 - 702)::bigint) $$,
  'past due (in grace): still PRO'
);
select tests.clear_authentication();
update public.subscriptions set status = 'canceled', past_due_since = null
where user_id = tests.get_supabase_uid('ai-alice');
select is(
  (private.effective_plan(tests.get_supabase_uid('ai-alice'))).code, 'FREE',
  'a canceled subscription falls back to the default plan'
);
select tests.authenticate_as_service_role();
select pg_temp.reserve('r11', 'ai-alice', 1, '2030-01-31 23:00:04+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r11' $$,
  $$ values (true, (50000 - 380 - 703)::bigint) $$,
  'canceled: FREE''s cap applies'
);

-- A new UTC month starts from zero.
select pg_temp.reserve('r12', 'ai-alice', 1, '2030-02-01 00:00:00+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r12' $$,
  $$ values (true, 49999::bigint) $$,
  'on the first second of the next UTC month the whole cap is available again'
);
select results_eq(
  $$ select a.month, a.used_tokens, a.held_tokens from alice_month as a order by a.month $$,
  $$ values ('2030-01-01'::date, 380::bigint, 0::bigint), ('2030-02-01'::date, 0::bigint, 1::bigint) $$,
  'one row per month; January''s expired holds were released on the way'
);

-- A plan without AI.
select tests.clear_authentication();
update public.plans set ai_monthly_token_cap = 0
where code = 'AI_TEST';
select tests.authenticate_as_service_role();
select pg_temp.reserve('b2', 'ai-bob', 1, '2030-04-10 00:00:00+00');
select results_eq(
  $$ select r.allowed, r.reason, r.retry_after_seconds, r.remaining_tokens, r.reservation_id
     from reservations as r where r.label = 'b2' $$,
  $$ values (false, 'monthly_cap_reached', 21 * 86400, 0::bigint, null::uuid) $$,
  'a zero cap: monthly_cap_reached at once, retry at the next month'
);
select tests.clear_authentication();
update public.plans set ai_monthly_token_cap = 1000, ai_requests_per_window = 0
where code = 'AI_TEST';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select r.allowed, r.reason, r.remaining_tokens
     from private.reserve_ai_usage(tests.get_supabase_uid('ai-bob'), 1, '2030-04-10 00:00:00+00') as r $$,
  $$ values (false, 'monthly_cap_reached', 0::bigint) $$,
  'zero requests per window: no AI either'
);
select is_empty(
  $$ select 1 from private.ai_holds as h
     where h.user_id = tests.get_supabase_uid('ai-bob') and h.month = '2030-04-01' $$,
  'no hold is created for a plan without AI'
);

-- Invalid arguments ------------------------------------------------------------------------------------
select throws_ok(
  $$ select * from public.reserve_ai_usage(null, 10) $$, '22023', 'invalid_argument', 'no user'
);
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), 0) $$, '22023',
  'invalid_argument', 'an estimate of 0'
);
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), -5) $$, '22023',
  'invalid_argument', 'a negative estimate'
);
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), null) $$, '22023',
  'invalid_argument', 'no estimate'
);
select throws_ok(
  $$ select * from public.reserve_ai_usage(tests.get_supabase_uid('ai-carol'), 10000001) $$, '22023',
  'invalid_argument', 'an estimate above 10,000,000'
);
select throws_ok(
  $$ select * from public.reserve_ai_usage(gen_random_uuid(), 10) $$, 'PT404', 'user_not_found',
  'a user that does not exist (e.g. deleted, with a token still valid): PT404 user_not_found'
);
select throws_ok(
  $$ select public.commit_ai_usage(gen_random_uuid(), 'openai', 'gpt-test', 1, 1) $$, 'PT404',
  'reservation_not_found', 'committing an unknown reservation: PT404'
);
select throws_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', -1, 1) from reservations as r
     where r.label = 'r12' $$,
  '22023', 'invalid_argument', 'negative prompt tokens'
);
select throws_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 1, null) from reservations as r
     where r.label = 'r12' $$,
  '22023', 'invalid_argument', 'no completion tokens'
);
select throws_ok(
  $$ select public.commit_ai_usage(r.reservation_id, null, 'gpt-test', 1, 1) from reservations as r
     where r.label = 'r12' $$,
  '22023', 'invalid_argument', 'no provider'
);
select throws_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', null, 1, 1) from reservations as r
     where r.label = 'r12' $$,
  '22023', 'invalid_argument', 'no model'
);
select results_eq(
  $$ select u.prompt_tokens, u.completion_tokens, char_length(u.model)
     from reservations as r, lateral public.commit_ai_usage(r.reservation_id, 'openai', repeat('m', 300), 0, 0) as u
     where r.label = 'r12' $$,
  $$ values (0, 0, 200) $$,
  'zero tokens (the provider failed early) are a valid commit; an overlong model name is cut to 200'
);

-- my_ai_usage: this month's numbers, the caller's only ---------------------------------------------------
-- Carol (FREE) uses AI now: 300 tokens committed, 400 held, and some in 2030. Bob and alice: 2030 only.
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
  'bob reads exactly his own ai_usage row, none of alice''s or carol''s'
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
  (select count(*) from public.ai_usage), '>=', 6::bigint, 'service_role reads every ai_usage row'
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
