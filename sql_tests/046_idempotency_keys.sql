-- private.idempotency_keys and the *_idempotent_request RPCs (20261204005000): a key runs once per caller
-- and route; the same body replays, another body is refused, a running duplicate waits, a 5xx/429 answer
-- is released, keys expire after 24 h and a crashed attempt's lease can be taken over by the same body.
-- Runs as `postgres`; everything is rolled back.
begin;
set local client_min_messages = warning;
select plan(25);

select tests.create_supabase_user('idem-alice');
select tests.create_supabase_user('idem-bob');

-- Who may use keys ------------------------------------------------------------------------------------------
select tests.rls_enabled('private', 'idempotency_keys');
select tests.authenticate_as_anon();
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', 'k-anon', 'h') $$,
  '42501', null, 'anon cannot use idempotency keys'
);
select tests.clear_authentication();

-- A new key runs; a duplicate while it runs waits; its answer then replays ----------------------------------
select tests.authenticate_as('idem-alice');
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /x', 'k1', 'hash-a') $$,
  $$ values ('started'::text) $$,
  'a new key starts'
);
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', 'k1', 'hash-a') $$,
  'PT409', 'idempotency_key_in_use', 'the same key while the first request runs is 409'
);
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', 'k1', 'hash-b') $$,
  'PT422', 'idempotency_key_reused', 'the same key with another body is 422, running or not'
);
select ok(
  public.complete_idempotent_request('POST /x', 'k1', 200, '{"payment_id": "p1"}'),
  'the answer is stored'
);
select results_eq(
  $$ select state, response_status, response
     from public.begin_idempotent_request('POST /x', 'k1', 'hash-a') $$,
  $$ values ('completed'::text, 200, '{"payment_id": "p1"}'::jsonb) $$,
  'the same key and body replays the stored answer'
);
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', 'k1', 'hash-b') $$,
  'PT422', 'idempotency_key_reused', 'another body after it finished is 422'
);
select ok(
  not public.complete_idempotent_request('POST /x', 'k1', 500, '{}'),
  'a finished key is not completed again'
);
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /y', 'k1', 'hash-b') $$,
  $$ values ('started'::text) $$,
  'keys are per route'
);

-- Released (a 5xx or 429): the retry runs again -------------------------------------------------------------
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /x', 'k2', 'hash-a') $$,
  $$ values ('started'::text) $$,
  'k2 starts'
);
select ok(public.release_idempotent_request('POST /x', 'k2'), 'a failed attempt releases its key');
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /x', 'k2', 'hash-b') $$,
  $$ values ('started'::text) $$,
  'a released key starts again, even with another body'
);

-- Keys belong to their caller -------------------------------------------------------------------------------
select tests.authenticate_as('idem-bob');
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /x', 'k1', 'hash-z') $$,
  $$ values ('started'::text) $$,
  'another user''s k1 is a key of their own'
);
select ok(
  not public.complete_idempotent_request('POST /x', 'k2', 200, '{}'),
  'nobody can complete another user''s key'
);
select ok(not public.release_idempotent_request('POST /x', 'k2'), 'nor release it');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select state from public.begin_idempotent_request('POST /x', 'k1', 'hash-s') $$,
  $$ values ('started'::text) $$,
  'the service role has keys of its own'
);
select tests.clear_authentication();

-- Bad keys --------------------------------------------------------------------------------------------------
select tests.authenticate_as('idem-alice');
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', 'with space', 'h') $$,
  'PT400', 'invalid_idempotency_key', 'a key with white space is refused'
);
select throws_ok(
  $$ select * from public.begin_idempotent_request('POST /x', repeat('k', 256), 'h') $$,
  'PT400', 'invalid_idempotency_key', 'a key over 255 characters is refused'
);
select tests.clear_authentication();

-- Time: a crashed attempt's lease, and the 24-hour life of a key --------------------------------------------
select set_config('request.jwt.claims', json_build_object(
  'sub', tests.get_supabase_uid('idem-alice'), 'role', 'authenticated'
)::text, true);
select results_eq(
  $$ select state
     from private.begin_idempotent_request('POST /t', 'k3', 'hash-a', 60, '2026-01-01 00:00Z') $$,
  $$ values ('started'::text) $$,
  'k3 starts at midnight'
);
select throws_ok(
  $$ select *
     from private.begin_idempotent_request('POST /t', 'k3', 'hash-b', 60, '2026-01-01 00:02Z') $$,
  'PT422', 'idempotency_key_reused', 'its lease ran out, but another body still cannot take it'
);
select results_eq(
  $$ select state
     from private.begin_idempotent_request('POST /t', 'k3', 'hash-a', 60, '2026-01-01 00:02Z') $$,
  $$ values ('started'::text) $$,
  'the same body takes over a crashed attempt after its lease'
);
select ok(
  private.complete_idempotent_request('POST /t', 'k3', 201, '{"ok": true}'), 'and completes it'
);
select results_eq(
  $$ select state
     from private.begin_idempotent_request('POST /t', 'k3', 'hash-b', 60, '2026-01-02 00:03Z') $$,
  $$ values ('started'::text) $$,
  'after 24 hours the key is free again'
);
select is(
  private.purge_idempotency_keys('2026-01-04 00:00Z'), 1,
  'the purge deletes expired keys (only k3 is expired then)'
);

select * from finish();
rollback;
