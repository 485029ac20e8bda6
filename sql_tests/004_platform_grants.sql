-- Platform stand-in: what the migration role may and may not do to the platform's schemas, and the
-- privileges new objects in `public` get. Runs as `postgres`; every change is rolled back.
begin;
-- Keep the TAP stream clean of NOTICEs ("already exists, skipping", "drop cascades to …").
set local client_min_messages = warning;
select plan(33);

-- Allowed, as on hosted projects ----------------------------------------------------------------------
select lives_ok(
  $$ create policy platform_test_read on storage.objects for select to authenticated
       using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text) $$,
  'postgres can create a policy on storage.objects'
);
select lives_ok(
  $$ alter policy platform_test_read on storage.objects using (false) $$,
  'postgres can alter a policy on storage.objects'
);
select lives_ok(
  $$ drop policy platform_test_read on storage.objects $$,
  'postgres can drop a policy on storage.objects'
);
select lives_ok(
  $$ create policy platform_test_read on storage.buckets for select to authenticated using (true) $$,
  'postgres can create a policy on storage.buckets'
);
select lives_ok(
  $$ comment on table storage.objects is 'files' $$,
  'postgres can comment on storage.objects'
);
select lives_ok(
  $$ revoke truncate on storage.objects from anon $$,
  'postgres can revoke privileges on storage.objects'
);
select lives_ok(
  $$ grant select on storage.buckets to anon $$,
  'postgres can grant privileges on storage.buckets'
);

-- A signup trigger on auth.users, the common Supabase pattern.
create table public.platform_test_profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text
);
create function public.platform_test_on_signup()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.platform_test_profiles (id, email) values (new.id, new.email);
  return new;
end
$$;
select lives_ok(
  $$ create trigger platform_test_on_signup after insert on auth.users
       for each row execute function public.platform_test_on_signup() $$,
  'postgres can create a trigger on auth.users'
);
select lives_ok(
  $$ create or replace trigger platform_test_on_signup after insert on auth.users
       for each row execute function public.platform_test_on_signup() $$,
  'postgres can replace its trigger on auth.users'
);
select lives_ok(
  $$ select tests.create_supabase_user('platform-signup') $$,
  'a signup fires the trigger and the foreign key check (run as auth.users'' owner) passes'
);
select is(
  (
    select p.email from public.platform_test_profiles as p
    where p.id = tests.get_supabase_uid('platform-signup')
  ),
  'platform-signup@test.local', 'the trigger created the profile row'
);
select lives_ok(
  $$ delete from auth.users where id = tests.get_supabase_uid('platform-signup') $$,
  'postgres can delete a user'
);
select is(
  (select count(*) from public.platform_test_profiles), 0::bigint,
  'deleting the user cascades to the referencing table'
);
select lives_ok(
  $$ drop function public.platform_test_on_signup() cascade $$,
  'postgres can drop its trigger on auth.users together with the trigger function'
);
select lives_ok(
  $$ drop table public.platform_test_profiles $$,
  'postgres can drop a table that references auth.users'
);

-- Refused, as on hosted projects ----------------------------------------------------------------------
select throws_ok(
  $$ create table auth.platform_test (id int) $$, '42501', null,
  'postgres cannot create a table in auth'
);
select throws_ok(
  $$ create table storage.platform_test (id int) $$, '42501', null,
  'postgres cannot create a table in storage'
);
select throws_ok(
  $$ create function auth.platform_test() returns int language sql as 'select 1' $$, '42501', null,
  'postgres cannot create a function in auth'
);
select throws_ok(
  $$ create function storage.platform_test() returns int language sql as 'select 1' $$, '42501', null,
  'postgres cannot create a function in storage'
);
select throws_ok(
  $$ create or replace function storage.foldername(name text) returns text[] language sql
       as 'select null::text[]' $$, '42501', null,
  'postgres cannot replace a storage helper function'
);
select throws_ok(
  $$ alter table auth.users add column platform_test int $$, '42501', null,
  'postgres cannot alter auth.users'
);
select throws_ok($$ drop table auth.users $$, '42501', null, 'postgres cannot drop auth.users');
select throws_ok(
  $$ alter table storage.objects add column platform_test int $$, '42501', null,
  'postgres cannot alter storage.objects'
);
select throws_ok(
  $$ alter table storage.objects disable row level security $$, '42501', null,
  'postgres cannot disable RLS on storage.objects'
);
select throws_ok($$ drop table storage.objects $$, '42501', null, 'postgres cannot drop storage.objects');
select throws_ok(
  $$ create index platform_test on storage.objects (owner) $$, '42501', null,
  'postgres cannot create an index on storage.objects'
);
select throws_ok(
  $$ create trigger platform_test before insert on storage.objects
       for each row execute function storage.update_updated_at_column() $$, '42501', null,
  'postgres cannot create a trigger on storage.objects'
);
select throws_ok(
  $$ drop trigger protect_objects_delete on storage.objects $$, '42501', null,
  'postgres cannot drop the delete guard of storage.objects'
);
select throws_ok(
  $$ alter function storage.foldername(text) stable $$, '42501', null,
  'postgres cannot alter a storage function'
);

-- New objects in public are not exposed automatically -------------------------------------------------
select ok(
  (
    select bool_and(has_schema_privilege(r, 'public', 'usage'))
    from unnest(array['anon', 'authenticated', 'service_role']) as r
  ),
  'anon, authenticated and service_role may use schema public'
);

create table public.platform_test_grants (id bigint generated always as identity primary key);
create function public.platform_test_grants_fn() returns int language sql immutable as 'select 1';
select ok(
  (select
    not bool_or(has_table_privilege(
      r, 'public.platform_test_grants',
      'select, insert, update, delete, truncate, references, trigger'
    ))
  from unnest(array['anon', 'authenticated', 'service_role']) as r),
  'a new table in public is not granted to anon, authenticated or service_role'
);
select ok(
  (
    select not bool_or(has_sequence_privilege(r, 'public.platform_test_grants_id_seq', 'usage, select'))
    from unnest(array['anon', 'authenticated', 'service_role']) as r
  ),
  'a new sequence in public is not granted to anon, authenticated or service_role'
);
-- EXECUTE may still reach them through PUBLIC (PostgreSQL's default, unless a migration revokes it),
-- but never through a grant to the API roles themselves.
select ok(
  not exists (
    select 1
    from pg_catalog.pg_proc as p
    cross join lateral aclexplode(p.proacl) as a
    where
      p.oid = 'public.platform_test_grants_fn()'::regprocedure
      and a.grantee in ('anon'::regrole, 'authenticated'::regrole, 'service_role'::regrole)
  ),
  'a new function in public carries no grant to anon, authenticated or service_role'
);

select * from finish();
rollback;
