-- AI holds: a reservation holds its estimate until it is committed or it expires (settings.ai_hold_seconds).
-- Expired holds are released — by the sweep (release_expired_ai_holds, as run_billing_cycle runs it), and by
-- each reservation for the user's own — and give their estimate back; a commit after its hold expired still
-- records the usage. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(18);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from private.ai_holds;

do $$
begin
  perform tests.create_supabase_user('ai-alice');
  perform tests.create_supabase_user('ai-bob');
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

-- Alice's January 2030 so far: one request committed (250 tokens), two estimates held (400 and 500), and two
-- reservations refused (the window's limit, then the cap). 033 asserts each step.
select tests.authenticate_as_service_role();
select pg_temp.reserve('r1', 'ai-alice', 300, '2030-01-15 12:00:00+00');
select lives_ok(
  $$ select public.commit_ai_usage(r.reservation_id, 'openai', 'gpt-test', 100, 150) from reservations as r
     where r.label = 'r1' $$,
  'setup: r1 is committed'
);
select pg_temp.reserve('r2', 'ai-alice', 400, '2030-01-15 12:00:01+00');
select pg_temp.reserve('r3', 'ai-alice', 500, '2030-01-15 12:00:02+00');
select pg_temp.reserve('r4', 'ai-alice', 1, '2030-01-15 12:00:03+00');
select pg_temp.reserve('r5', 'ai-alice', 1, '2030-01-15 12:01:00+00');
select results_eq(
  $$ select a.used_tokens, a.held_tokens, a.requests from alice_month as a $$,
  $$ values (250::bigint, 900::bigint, 1) $$,
  'setup: 250 used, 900 held, one request'
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

select * from finish();
rollback;
