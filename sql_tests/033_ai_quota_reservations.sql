-- AI quotas: reserve_ai_usage() holds an estimate against the plan's per-window request limit and monthly
-- token cap (the UTC month), commit_ai_usage() turns it into the real usage, and the plan in effect
-- (private.effective_plan) decides the limits and the model. Instants are passed through
-- private.reserve_ai_usage's `now` argument. Holds that expire are 034's. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(42);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from private.ai_holds;

do $$
begin
  perform tests.create_supabase_user('ai-alice');
  perform tests.create_supabase_user('ai-bob');
  perform tests.create_supabase_user('ai-carol');
end
$$;

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

-- A plan change changes the cap ------------------------------------------------------------------------
select pg_temp.reserve('r7', 'ai-alice', 750, '2030-01-31 23:00:00+00');
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
  $$ values (true, null::text, (2000000 - 250 - 751)::bigint) $$,
  'on PRO the same month''s usage is measured against PRO''s cap (and PRO''s model)'
);
select tests.clear_authentication();
update public.subscriptions set status = 'past_due', past_due_since = '2030-01-20 00:00:00+00'
where user_id = tests.get_supabase_uid('ai-alice');
select tests.authenticate_as_service_role();
select pg_temp.reserve('r10', 'ai-alice', 1, '2030-01-31 23:00:03+00');
select results_eq(
  $$ select r.allowed, r.remaining_tokens from reservations as r where r.label = 'r10' $$,
  $$ values (true, (2000000 - 250 - 752)::bigint) $$,
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
  $$ values (true, (50000 - 250 - 753)::bigint) $$,
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
  $$ values ('2030-01-01'::date, 250::bigint, 0::bigint), ('2030-02-01'::date, 0::bigint, 1::bigint) $$,
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

select * from finish();
rollback;
