-- health() for the edge app's GET /health, and the pg_cron job that runs the billing cycle. The job's
-- command is executed here as the job's owner, the way pg_cron runs it; a test that waits for a real run is
-- in pytest. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(15);

do $$ begin perform tests.create_supabase_user('hc-alice'); end $$;

-- health() ----------------------------------------------------------------------------------------------
select isnt_definer('public', 'health', array[]::text[], 'health is invoker');
select is_definer(
  'private', 'latest_migration_version', array[]::text[],
  'latest_migration_version is definer (API roles cannot read supabase_migrations)'
);

-- The expected answer, read as the migration role.
create temporary table expected on commit drop as
select max(m.version) as version from supabase_migrations.schema_migrations as m;
grant select on expected to service_role;
select ok(
  (select e.version from expected as e) ~ '^[0-9]{14}$', 'the migration history has a latest version'
);

select tests.authenticate_as_service_role();
select results_eq(
  $$ select h.migration_version, h.database_time from public.health() as h $$,
  $$ select e.version, now() from expected as e $$,
  'service_role gets the latest applied migration version and the database clock'
);
select throws_ok(
  $$ select 1 from supabase_migrations.schema_migrations $$, '42501', null,
  'service_role itself cannot read the migration history (health() does it through its definer helper)'
);
select tests.authenticate_as('hc-alice');
select throws_ok($$ select * from public.health() $$, '42501', null, 'a user cannot call health');
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.health() $$, '42501', null, 'anon cannot call health');
select tests.clear_authentication();

-- The pg_cron job ----------------------------------------------------------------------------------------
select has_extension('pg_cron', 'pg_cron is installed on the local stack');
select results_eq(
  $$ select j.schedule, j.command, j.active, j.database = current_database()
     from cron.job as j where j.jobname = 'thinbase-billing-cycle' $$,
  $$ values ('*/15 * * * *', 'select public.run_billing_cycle()', true, true) $$,
  'one active job thinbase-billing-cycle runs select public.run_billing_cycle() every 15 minutes here'
);
select is(
  (
    select j.username::text from cron.job as j
    where j.jobname = 'thinbase-billing-cycle'
  ),
  current_user::text,
  'the job belongs to the migration role (postgres), which owns run_billing_cycle'
);

-- Something for the job to do: a checkout that expired an hour ago.
insert into public.payments (user_id, plan_code, provider, amount_minor, currency, order_id, expires_at)
values (
  tests.get_supabase_uid('hc-alice'), 'PRO', 'stripe', 900, 'USD', 'HC-OPEN', now() - interval '1 hour'
);
create temporary table audit_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;

-- As pg_cron does it: the job's command, as the job's owner, with no request claims.
select ok(
  current_user::text = (
    select j.username::text from cron.job as j
    where j.jobname = 'thinbase-billing-cycle'
  )
  and coalesce(current_setting('request.jwt.claims', true), '') = '',
  'the session is the job''s owner, with no claims (as under pg_cron)'
);
select lives_ok(
  (
    select j.command from cron.job as j
    where j.jobname = 'thinbase-billing-cycle'
  ),
  'the job''s command runs as its owner'
);
select results_eq(
  $$ select p.status from public.payments as p where p.order_id = 'HC-OPEN' $$,
  $$ values ('expired') $$,
  'and does the cycle''s work (the expired checkout is expired)'
);
select results_eq(
  $$ select a.action, a.actor_kind from private.audit_logs as a, audit_mark as m
     where a.id > m.last_id and (a.action = 'billing.run' or a.entity_id = (
       select p.id::text from public.payments as p where p.order_id = 'HC-OPEN'
     ))
     order by a.id $$,
  $$ values ('payments.update', 'system'), ('billing.run', 'system') $$,
  'its changes are audited as the system'
);
select lives_ok(
  (
    select j.command from cron.job as j
    where j.jobname = 'thinbase-billing-cycle'
  ),
  'running it again at once is harmless'
);

select * from finish();
rollback;
