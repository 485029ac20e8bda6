-- private.audit_logs and the row audit triggers on profiles, user_roles, subscriptions and payments: who
-- changed what (user / admin / service / system), before and after. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(42);

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('private', 'audit_logs', 'private.audit_logs exists');
select tests.rls_enabled('private', 'audit_logs');
select has_index(
  'private', 'audit_logs', 'audit_logs_actor_user_id_idx', array['actor_user_id'], 'the actor FK is indexed'
);
select trigger_is(
  'public', 'profiles', 'profiles_audit', 'private', 'audit_row_change', 'profiles are audited'
);
select trigger_is(
  'public', 'user_roles', 'user_roles_audit', 'private', 'audit_row_change', 'user_roles are audited'
);
select trigger_is(
  'public', 'subscriptions', 'subscriptions_audit', 'private', 'audit_row_change', 'subscriptions are audited'
);
select trigger_is(
  'public', 'payments', 'payments_audit', 'private', 'audit_row_change', 'payments are audited'
);

-- Audit rows written by this test only (the stack may hold committed rows from other suites).
create temporary table start_mark on commit drop as
select coalesce(max(a.id), 0) as last_id from private.audit_logs as a;
create temporary view recent_audit as
select a.* from private.audit_logs as a
where a.id > (select m.last_id from start_mark as m);

-- system: Supabase Auth creating a user (no request claims) ------------------------------------------------
do $$
begin
  perform tests.create_supabase_user('au-alice');
  perform tests.create_supabase_user('au-bob');
  perform tests.create_supabase_user('au-admin');
end
$$;
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('au-admin');

select results_eq(
  $$ select a.action, a.entity, a.actor_kind, a.actor_user_id, a.before is null, a.after ->> 'plan_code',
       a.created_at
     from recent_audit as a
     where a.entity_id = tests.get_supabase_uid('au-alice')::text order by a.id $$,
  $$ values
       ('profiles.insert', 'profiles', 'system', null::uuid, true, null::text, now()),
       ('subscriptions.insert', 'subscriptions', 'system', null::uuid, true, 'FREE', now()),
       ('user_roles.insert', 'user_roles', 'system', null::uuid, true, null::text, now()) $$,
  'onboarding writes one insert per table, by the system, with the new row as after'
);
select results_eq(
  $$ select a.actor_kind, a.before ->> 'role', a.after ->> 'role' from recent_audit as a
     where a.action = 'user_roles.update' and a.entity_id = tests.get_supabase_uid('au-admin')::text $$,
  $$ values ('system', 'member', 'admin') $$,
  'a change by the migration role (no claims) is the system''s, with before and after'
);

-- user: a member changing their own name ------------------------------------------------------------------
select tests.authenticate_as('au-alice');
update public.profiles set full_name = 'Alice'
where id = tests.get_supabase_uid('au-alice');
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id, a.entity_id, a.before ->> 'full_name', a.after ->> 'full_name'
     from recent_audit as a where a.action = 'profiles.update' $$,
  $$ values (
       'user', tests.get_supabase_uid('au-alice'), tests.get_supabase_uid('au-alice')::text, null, 'Alice'
     ) $$,
  'a user''s own change is audited as user, with the user as actor, before and after'
);

-- Updates that change nothing (but updated_at) are not changes.
create temporary table audit_mark on commit drop as
select max(a.id) as last_id from private.audit_logs as a;
grant select on audit_mark to anon, authenticated, service_role;
select tests.authenticate_as('au-alice');
update public.profiles set full_name = full_name
where id = tests.get_supabase_uid('au-alice');
select tests.clear_authentication();
update public.profiles set updated_at = now() - interval '1 day'
where id = tests.get_supabase_uid('au-alice');
update public.subscriptions set plan_code = plan_code
where user_id = tests.get_supabase_uid('au-alice');
select is_empty(
  $$ select 1 from private.audit_logs as a where a.id > (select m.last_id from audit_mark as m) $$,
  'an update that changes only updated_at writes nothing'
);

-- admin: an admin changing their own name, and starting a checkout ---------------------------------------
select tests.authenticate_as('au-admin');
update public.profiles set full_name = 'The Admin'
where id = tests.get_supabase_uid('au-admin');
select lives_ok($$ select public.create_payment('PRO', 'stripe', 'USD') $$, 'the admin starts a checkout');
select tests.authenticate_as('au-bob');
select lives_ok($$ select public.create_payment('PRO', 'doku', 'IDR') $$, 'bob starts a checkout');
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id, a.after ->> 'full_name' from recent_audit as a
     where a.action = 'profiles.update' and a.entity_id = tests.get_supabase_uid('au-admin')::text $$,
  $$ values ('admin', tests.get_supabase_uid('au-admin'), 'The Admin') $$,
  'a change by an admin is audited as admin (user_roles decides, at the time of the change)'
);
select results_eq(
  $$ select a.actor_kind, a.actor_user_id, a.after ->> 'status', a.after ->> 'amount_minor', a.before is null
     from recent_audit as a
     where a.action = 'payments.insert'
       and a.entity_id = (
         select p.id::text from public.payments as p where p.user_id = tests.get_supabase_uid('au-bob')
       ) $$,
  $$ values ('user', tests.get_supabase_uid('au-bob'), 'pending', '14900000', true) $$,
  'a payment created through create_payment is audited with the user as actor and the payment id'
);
select results_eq(
  $$ select a.actor_kind from recent_audit as a
     where a.action = 'payments.insert'
       and a.entity_id = (
         select p.id::text from public.payments as p where p.user_id = tests.get_supabase_uid('au-admin')
       ) $$,
  $$ values ('admin') $$,
  'an admin''s own checkout is audited as admin'
);

-- service: the service role changing a subscription, a role, a payment, and deleting a profile --------------
select tests.authenticate_as_service_role();
update public.subscriptions set plan_code = 'PRO', current_period_end = now() + interval '1 month'
where user_id = tests.get_supabase_uid('au-bob');
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('au-bob');
select lives_ok(
  $$ select public.attach_checkout(
       (select p.id from public.payments as p where p.user_id = tests.get_supabase_uid('au-bob')), 'tok_1'
     ) $$,
  'the service attaches a checkout'
);
delete from public.profiles
where id = tests.get_supabase_uid('au-bob');
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id, a.before ->> 'plan_code', a.after ->> 'plan_code'
     from recent_audit as a
     where a.action = 'subscriptions.update' and a.entity_id = tests.get_supabase_uid('au-bob')::text $$,
  $$ values ('service', null::uuid, 'FREE', 'PRO') $$,
  'a subscription change by the service role is audited as service'
);
select results_eq(
  $$ select a.actor_kind, a.before ->> 'role', a.after ->> 'role' from recent_audit as a
     where a.action = 'user_roles.update' and a.entity_id = tests.get_supabase_uid('au-bob')::text $$,
  $$ values ('service', 'member', 'admin') $$,
  'a role change by the service role is audited as service'
);
select results_eq(
  $$ select a.actor_kind, a.before ->> 'checkout_token', a.after ->> 'checkout_token'
     from recent_audit as a
     where a.action = 'payments.update'
       and a.entity_id = (
         select p.id::text from public.payments as p where p.user_id = tests.get_supabase_uid('au-bob')
       ) $$,
  $$ values ('service', null, 'tok_1') $$,
  'a payment change by the service role is audited as service'
);
select results_eq(
  $$ select a.actor_kind, a.entity, a.before ->> 'id', a.after is null from recent_audit as a
     where a.action = 'profiles.delete' $$,
  $$ values ('service', 'profiles', tests.get_supabase_uid('au-bob')::text, true) $$,
  'a delete is audited with the old row as before and no after'
);
select results_eq(
  $$ select count(*) from recent_audit as a
     where a.entity = 'profiles' and a.entity_id = tests.get_supabase_uid('au-bob')::text $$,
  $$ values (2::bigint) $$,
  'bob''s profile: an insert and a delete'
);
select results_eq(
  $$ select count(distinct a.action) from recent_audit as a
     where a.action in (
       'profiles.insert', 'profiles.update', 'profiles.delete', 'user_roles.insert', 'user_roles.update',
       'subscriptions.insert', 'subscriptions.update', 'payments.insert', 'payments.update'
     ) $$,
  $$ values (9::bigint) $$,
  'every audited table has written its insert and update actions'
);
select is_empty(
  $$ select 1 from recent_audit as a
     where a.entity in ('profiles', 'user_roles', 'subscriptions', 'payments')
       and (a.entity_id is null or (a.before is null and a.after is null)) $$,
  'every row entry names its row and carries a before or an after'
);

-- Nobody may rewrite history --------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select count(*) > 0 from private.audit_logs $$, $$ values (true) $$, 'service_role reads the log'
);
select lives_ok(
  $$ insert into private.audit_logs (actor_kind, action, entity) values ('service', 'test.note', 'tests') $$,
  'service_role may append an entry'
);
select throws_ok(
  $$ update private.audit_logs set action = 'forged' $$, '42501', null, 'service_role cannot update the log'
);
select throws_ok(
  $$ delete from private.audit_logs $$, '42501', null, 'service_role cannot delete from the log'
);
select throws_ok(
  $$ truncate private.audit_logs $$, '42501', null, 'service_role cannot truncate the log'
);
select throws_ok(
  $$ insert into private.audit_logs (id, actor_kind, action, entity) values (1, 'service', 'x', 'y') $$,
  '428C9', null, 'ids are generated, never chosen'
);
select throws_ok(
  $$ insert into private.audit_logs (actor_kind, action, entity) values ('root', 'x', 'y') $$,
  '23514', null, 'actor_kind is user, admin, service or system'
);
select tests.authenticate_as('au-admin');
select throws_ok(
  $$ select 1 from private.audit_logs $$, '42501', null, 'even an admin cannot read the table directly'
);
select throws_ok(
  $$ insert into private.audit_logs (actor_kind, action, entity) values ('admin', 'x', 'y') $$,
  '42501', null, 'a user cannot append to the log directly'
);
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from private.audit_logs $$, '42501', null, 'anon cannot read the log');
select throws_ok(
  $$ select private.write_audit('x', 'y', null) $$, '42501', null, 'anon cannot write through write_audit'
);

select tests.authenticate_as('au-alice');
select throws_ok(
  $$ select private.write_audit('forged', 'tests', 'e-0') $$, '42501', null,
  'a user cannot write an audit entry directly'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select private.write_audit('test.service-direct', 'tests', 'e-0') $$,
  'the service role may (the operator RPCs, invoker, audit through it; it may insert into the log anyway)'
);

-- private.write_audit and current_actor as the admin RPCs use them: the caller's claims, the owner's role --
select tests.authenticate_as('au-alice');
set local role postgres;
select lives_ok($$ select private.write_audit('test.user', 'tests', 'e-1') $$, 'write_audit for a user');
select tests.authenticate_as('au-admin');
set local role postgres;
select lives_ok(
  $$ select private.write_audit('test.admin', 'tests', 'e-2', '{"a": 1}', '{"a": 2}') $$,
  'write_audit for an admin'
);
select tests.authenticate_as_service_role();
set local role postgres;
select lives_ok(
  $$ select private.write_audit('test.service', 'tests', 'e-3') $$, 'write_audit for the service role'
);
select tests.clear_authentication();
select lives_ok(
  $$ select private.write_audit('test.system', 'tests', 'e-4') $$, 'write_audit with no claims'
);
select results_eq(
  $$ select a.action, a.actor_kind, a.actor_user_id, a.entity_id, a.before, a.after
     from recent_audit as a
     where a.entity = 'tests' and a.entity_id is not null order by a.id $$,
  $$ values
       ('test.service-direct', 'service', null::uuid, 'e-0', null::jsonb, null::jsonb),
       ('test.user', 'user', tests.get_supabase_uid('au-alice'), 'e-1', null::jsonb, null::jsonb),
       (
         'test.admin', 'admin', tests.get_supabase_uid('au-admin'), 'e-2', '{"a": 1}'::jsonb,
         '{"a": 2}'::jsonb
       ),
       ('test.service', 'service', null::uuid, 'e-3', null::jsonb, null::jsonb),
       ('test.system', 'system', null::uuid, 'e-4', null::jsonb, null::jsonb) $$,
  'the actor comes from the request: service, user, admin (per user_roles), service, system'
);

select * from finish();
rollback;
