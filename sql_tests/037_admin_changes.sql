-- The admin RPCs that change operating data: admin_reset_rate_limit (one subject's bucket or a namespace)
-- and admin_upsert_plan (the plan catalog and its prices). Each call is audited. Runs as `postgres`; rolled
-- back.
begin;
set local client_min_messages = warning;
select plan(21);

-- Audit rows written by this test only (the stack may hold committed rows from other suites).
create temporary table start_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
create temporary view recent_audit as
select a.* from private.audit_logs as a
where a.id > (select m.last_id from start_mark as m);

-- Setup: an admin, two members and some rate-limit buckets --------------------------------------------------
do $$
begin
  perform tests.create_supabase_user('ad-admin', null, null, '{"full_name": "Ada Admin"}');
  perform tests.create_supabase_user('ad-bob', null, null, '{"full_name": "Bob Member"}');
  perform tests.create_supabase_user('ad-carol');
  -- Only our admin is an admin, whatever else the database holds.
  update public.user_roles set role = case when user_id = (select tests.get_supabase_uid('ad-admin'))
    then 'admin' else 'member' end
  where role = 'admin' or user_id = (select tests.get_supabase_uid('ad-admin'));
end
$$;
select tests.authenticate_as_service_role();
do $$
begin
  perform private.consume_rate_limit('ad-test', 'a', 5, 60);
  perform private.consume_rate_limit('ad-test', 'b', 5, 60);
  perform private.consume_rate_limit('ad-other', 'a', 5, 60);
end
$$;
select tests.clear_authentication();

-- admin_reset_rate_limit ------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select public.admin_reset_rate_limit('ad-test', 'a') $$, $$ values (1) $$,
  'admin_reset_rate_limit removes one subject''s bucket'
);
select results_eq(
  $$ select public.admin_reset_rate_limit('ad-test') $$, $$ values (1) $$,
  'without a subject, every bucket of the namespace'
);
select results_eq(
  $$ select public.admin_reset_rate_limit('ad-test') $$, $$ values (0) $$, 'nothing left to remove'
);
select throws_ok(
  $$ select public.admin_reset_rate_limit(null) $$, '22023', 'invalid_argument', 'a namespace is required'
);
select throws_ok(
  $$ select public.admin_reset_rate_limit(' ') $$, '22023', 'invalid_argument', 'a blank namespace is refused'
);
select tests.clear_authentication();
select results_eq(
  $$ select b.namespace, count(*) from private.rate_limit_buckets as b
     where b.namespace like 'ad-%' group by 1 $$,
  $$ values ('ad-other', 1::bigint) $$,
  'other namespaces are untouched'
);
select results_eq(
  $$ select a.actor_kind, a.entity_id, a.after from recent_audit as a
     where a.action = 'admin.reset_rate_limit' order by a.id $$,
  $$ values
       ('admin', 'ad-test', '{"removed": 1, "subject_given": true}'::jsonb),
       ('admin', 'ad-test', '{"removed": 1, "subject_given": false}'::jsonb),
       ('admin', 'ad-test', '{"removed": 0, "subject_given": false}'::jsonb) $$,
  'each reset is audited without the subject in clear'
);

-- admin_upsert_plan -----------------------------------------------------------------------------------------
select tests.authenticate_as('ad-admin');
select results_eq(
  $$ select p.code, p.name, p.billing_interval, p.ai_monthly_token_cap, p.ai_requests_per_window,
       p.ai_window_seconds, p.ai_model, p.active, p.description, p.sort_order
     from public.admin_upsert_plan(
       ' pgtap_team ', 'Team', 'month', '{"USD": 2900, "eur": 2700}', 1000000, 30, 60, 'gpt-x', null,
       'For teams', 20
     ) as p $$,
  $$ values ('PGTAP_TEAM', 'Team', 'month', 1000000::bigint, 30, 60, 'gpt-x', true, 'For teams', 20) $$,
  'admin_upsert_plan creates a plan (code upper-cased, active by default)'
);
select results_eq(
  $$ select pp.currency, pp.amount_minor from public.plan_prices as pp where pp.plan_code = 'PGTAP_TEAM'
     order by pp.currency $$,
  $$ values ('EUR', 2700::bigint), ('USD', 2900::bigint) $$,
  'with its prices (currency codes upper-cased)'
);
select results_eq(
  $$ select p.name, p.ai_model, p.sort_order, p.billing_interval
     from public.admin_upsert_plan('PGTAP_TEAM', 'Team+') as p $$,
  $$ values ('Team+', 'gpt-x', 20, 'month') $$,
  'an update changes only what is given'
);
select results_eq(
  $$ select count(*) from public.plan_prices as pp where pp.plan_code = 'PGTAP_TEAM' $$,
  $$ values (2::bigint) $$,
  'prices not given are kept'
);
select lives_ok(
  $$ select public.admin_upsert_plan('PGTAP_TEAM', prices => '{"USD": 3100, "JPY": null}') $$,
  'given prices replace the list'
);
select results_eq(
  $$ select pp.currency, pp.amount_minor from public.plan_prices as pp where pp.plan_code = 'PGTAP_TEAM' $$,
  $$ values ('USD', 3100::bigint) $$,
  'EUR (left out) is removed, USD updated, JPY (null) not added'
);
select throws_ok(
  $$ select public.admin_upsert_plan('PGTAP_TEAM', prices => '[3100]') $$, 'PT400', 'invalid_prices',
  'prices must be an object: 400'
);
select throws_ok(
  $$ select public.admin_upsert_plan('PGTAP_TEAM', prices => '"3100"') $$, 'PT400', 'invalid_prices',
  'a string is not a price list: 400'
);
select throws_ok(
  $$ select public.admin_upsert_plan('PGTAP_TEAM', billing_interval => 'week') $$, '23514', null,
  'the catalog''s constraints still apply'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select p.active from public.admin_upsert_plan('PGTAP_TEAM', active => false) as p $$,
  $$ values (false) $$,
  'the service role may deactivate a plan'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.entity_id, a.before is null, a.after ->> 'name', a.after -> 'prices'
     from recent_audit as a where a.action = 'admin.upsert_plan' order by a.id $$,
  $$ values
       ('admin', 'PGTAP_TEAM', true, 'Team', '{"USD": 2900, "eur": 2700}'::jsonb),
       ('admin', 'PGTAP_TEAM', false, 'Team+', 'null'::jsonb),
       ('admin', 'PGTAP_TEAM', false, 'Team+', '{"JPY": null, "USD": 3100}'::jsonb),
       ('service', 'PGTAP_TEAM', false, 'Team+', 'null'::jsonb) $$,
  'each upsert is audited with the row before and after, and the prices given'
);
select tests.authenticate_as('ad-bob');
select throws_ok(
  $$ select public.create_payment('PGTAP_TEAM', 'stripe', 'USD') $$, 'PT400', 'plan_inactive',
  'an inactive plan cannot be bought'
);
select tests.authenticate_as_anon();
select results_eq(
  $$ select p.name, p.active from public.plans as p where p.code = 'PGTAP_TEAM' $$, $$ values ('Team+',
     false) $$,
  'the catalog shows the plan to everyone'
);

-- Every successful call above left exactly its audit entries ------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select a.action, count(*)
     from recent_audit as a where a.action in ('admin.reset_rate_limit', 'admin.upsert_plan') group by 1 order by 1 $$,
  $$ values
       ('admin.reset_rate_limit', 3::bigint), ('admin.upsert_plan', 4::bigint) $$,
  'one audit entry per successful call, none for a refused one'
);

select * from finish();
rollback;
