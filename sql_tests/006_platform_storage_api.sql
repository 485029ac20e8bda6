-- Platform stand-in: schema `storage_api`, the Storage API server's database calls that the local storage
-- adapter makes through the database port (supabase/platform/45_storage_api.sql). Their shape (invoker,
-- volatility, pinned search_path), who may call them, and what they do as each role, with the avatars
-- bucket's policies from migration 20261122002300 deciding. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(64);

do $$
begin
  perform tests.create_supabase_user('sapi-alice');
  perform tests.create_supabase_user('sapi-bob');
end
$$;

-- Paths used below, readable by every role the test switches to.
create temporary view sapi_paths as
select
  tests.get_supabase_uid('sapi-alice')::text || '/avatar' as alice,
  tests.get_supabase_uid('sapi-bob')::text || '/avatar' as bob,
  tests.get_supabase_uid('sapi-alice')::text || '/other' as alice_other;
grant select on sapi_paths to anon, authenticated, service_role;

-- The schema ------------------------------------------------------------------------------------------
select has_schema('storage_api', 'schema storage_api exists on the local stack');
select schema_owner_is('storage_api', 'supabase_admin', 'storage_api is owned by the superuser');
select schema_privs_are(
  'storage_api', 'authenticated', array['USAGE'], 'authenticated may use storage_api (and not create in it)'
);
select schema_privs_are(
  'storage_api', 'service_role', array['USAGE'], 'service_role may use storage_api (and not create in it)'
);
select schema_privs_are('storage_api', 'anon', array[]::text[], 'anon may not even use storage_api');
select ok(
  not has_schema_privilege('postgres', 'storage_api', 'create'),
  'the migration role may not create in storage_api, so migrations cannot add to or replace its functions'
);
select functions_are(
  'storage_api',
  array['can_insert_object', 'object_visible', 'upsert_object', 'object_mimetype', 'delete_object'],
  'storage_api holds the five Storage API calls and nothing else'
);

-- Shape: invoker (RLS applies as the caller), volatility written out, search_path pinned ------------------
select isnt_definer(
  'storage_api', 'can_insert_object', array['text', 'text'], 'can_insert_object is security invoker'
);
select isnt_definer(
  'storage_api', 'object_visible', array['text', 'text'], 'object_visible is security invoker'
);
select isnt_definer(
  'storage_api', 'upsert_object', array['text', 'text', 'text', 'jsonb'], 'upsert_object is security invoker'
);
select isnt_definer(
  'storage_api', 'object_mimetype', array['text', 'text'], 'object_mimetype is security invoker'
);
select volatility_is(
  'storage_api', 'can_insert_object', array['text', 'text'], 'volatile',
  'can_insert_object is volatile (it inserts)'
);
select volatility_is(
  'storage_api', 'object_visible', array['text', 'text'], 'stable', 'object_visible is stable'
);
select volatility_is(
  'storage_api', 'upsert_object', array['text', 'text', 'text', 'jsonb'], 'volatile',
  'upsert_object is volatile'
);
select volatility_is(
  'storage_api', 'object_mimetype', array['text', 'text'], 'stable', 'object_mimetype is stable'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_catalog.pg_proc as p
     where p.pronamespace = 'storage_api'::regnamespace
       and not coalesce(p.proconfig @> array['search_path=""'], false) $$,
  'every storage_api function runs with search_path = '''''
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_catalog.pg_proc as p
     where p.pronamespace = 'storage_api'::regnamespace
       and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) as a where a.grantee = 0)) $$,
  'PUBLIC may execute no storage_api function (a null ACL would mean it may)'
);

-- Privileges: exactly the role the Storage API acts as ------------------------------------------------------
select function_privs_are(
  'storage_api', 'can_insert_object', array['text', 'text'], 'anon', array[]::text[],
  'anon cannot execute can_insert_object'
);
select function_privs_are(
  'storage_api', 'can_insert_object', array['text', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated can execute can_insert_object (signing an upload URL acts as the user)'
);
select function_privs_are(
  'storage_api', 'can_insert_object', array['text', 'text'], 'service_role', array[]::text[],
  'service_role cannot execute can_insert_object (it bypasses RLS: the answer would mean nothing)'
);
select function_privs_are(
  'storage_api', 'object_visible', array['text', 'text'], 'anon', array[]::text[],
  'anon cannot execute object_visible'
);
select function_privs_are(
  'storage_api', 'object_visible', array['text', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated can execute object_visible (signing a download URL acts as the user)'
);
select function_privs_are(
  'storage_api', 'object_visible', array['text', 'text'], 'service_role', array[]::text[],
  'service_role cannot execute object_visible'
);
select function_privs_are(
  'storage_api', 'upsert_object', array['text', 'text', 'text', 'jsonb'], 'anon', array[]::text[],
  'anon cannot execute upsert_object'
);
select function_privs_are(
  'storage_api', 'upsert_object', array['text', 'text', 'text', 'jsonb'], 'authenticated', array[]::text[],
  'authenticated cannot execute upsert_object (it writes any owner and metadata)'
);
select function_privs_are(
  'storage_api', 'upsert_object', array['text', 'text', 'text', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role can execute upsert_object (the Storage API''s privileged mode, after checking the token)'
);
select function_privs_are(
  'storage_api', 'object_mimetype', array['text', 'text'], 'anon', array[]::text[],
  'anon cannot execute object_mimetype'
);
select function_privs_are(
  'storage_api', 'object_mimetype', array['text', 'text'], 'authenticated', array[]::text[],
  'authenticated cannot execute object_mimetype'
);
select function_privs_are(
  'storage_api', 'object_mimetype', array['text', 'text'], 'service_role', array['EXECUTE'],
  'service_role can execute object_mimetype (serving a verified download URL)'
);

-- can_insert_object: the policies decide, and nothing stays -------------------------------------------------
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.can_insert_object('avatars', p.alice) from sapi_paths as p),
  true, 'alice may insert avatars/<her uid>/avatar'
);
select is(
  (select storage_api.can_insert_object('avatars', p.bob) from sapi_paths as p),
  false, 'alice may not insert bob''s avatar path'
);
select is(
  (select storage_api.can_insert_object('avatars', p.alice_other) from sapi_paths as p),
  false, 'nor another name in her own folder'
);
select is(
  (select storage_api.can_insert_object('avatars', 'avatar')), false, 'nor a name outside her folder'
);
select is(
  (select storage_api.can_insert_object('other-bucket', p.alice) from sapi_paths as p),
  false, 'nor her avatar name in another bucket'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select 1 from storage.objects as o, sapi_paths as p where o.name in (p.alice, p.bob, p.alice_other) $$,
  'the trial inserts left no row behind, not even the allowed one'
);

-- The trial row is the one an upload writes: the caller's sub as owner and owner_id. A planted restrictive
-- policy (rolled back with the test) admits only such rows, so a trial row without them would be refused.
select tests.clear_authentication();
create policy sapi_owner_is_caller on storage.objects as restrictive for insert to authenticated
with check (owner = (select auth.uid()) and owner_id = (select auth.jwt()) ->> 'sub');
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.can_insert_object('avatars', p.alice) from sapi_paths as p),
  true, 'the trial row carries the caller''s sub as owner and owner_id'
);
select tests.clear_authentication();
drop policy sapi_owner_is_caller on storage.objects;

-- An existing object: the insert policy passed before the unique index refused, so the upload is an upsert.
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select storage_api.upsert_object('avatars', p.alice, tests.get_supabase_uid('sapi-alice')::text,
       '{"size": 8, "mimetype": "image/png"}') from sapi_paths as p $$,
  'service_role writes alice''s object row'
);
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.can_insert_object('avatars', p.alice) from sapi_paths as p),
  true, 'alice may replace her existing avatar (unique violation after the policy passed: an upsert)'
);
select tests.authenticate_as('sapi-bob');
select is(
  (select storage_api.can_insert_object('avatars', p.alice) from sapi_paths as p),
  false, 'bob may not, though the object exists (the policy refuses before the conflict)'
);

-- Errors other than a refusal are the caller's to see. A planted policy admits a bucket that does not exist,
-- so the insert passes RLS and fails its foreign key.
select tests.clear_authentication();
create policy sapi_no_bucket on storage.objects for insert to authenticated
with check (bucket_id = 'sapi-no-such-bucket');
select tests.authenticate_as('sapi-alice');
select throws_ok(
  $$ select storage_api.can_insert_object('sapi-no-such-bucket', 'x') $$,
  '23503', null, 'a foreign key violation is raised, not answered as "not allowed"'
);
select tests.clear_authentication();
drop policy sapi_no_bucket on storage.objects;

-- object_visible: the select policies decide ----------------------------------------------------------------
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.object_visible('avatars', p.alice) from sapi_paths as p),
  true, 'alice sees her avatar'
);
select is(
  (select storage_api.object_visible('avatars', p.bob) from sapi_paths as p),
  false, 'no object at bob''s path: not visible'
);
select tests.authenticate_as('sapi-bob');
select is(
  (select storage_api.object_visible('avatars', p.alice) from sapi_paths as p),
  false, 'bob does not see alice''s avatar, which exists'
);

-- upsert_object and object_mimetype, as service_role --------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select o.owner, o.owner_id, o.metadata from storage.objects as o, sapi_paths as p
     where o.bucket_id = 'avatars' and o.name = p.alice $$,
  $$ values (
       tests.get_supabase_uid('sapi-alice'), tests.get_supabase_uid('sapi-alice')::text,
       '{"size": 8, "mimetype": "image/png"}'::jsonb
     ) $$,
  'upsert_object wrote owner (uuid), owner_id (text) and the metadata'
);
select is(
  (select storage_api.object_mimetype('avatars', p.alice) from sapi_paths as p),
  'image/png', 'object_mimetype reads the mimetype the upload recorded'
);
select lives_ok(
  $$ select storage_api.upsert_object('avatars', p.alice, tests.get_supabase_uid('sapi-alice')::text,
       '{"size": 5, "mimetype": "image/webp"}') from sapi_paths as p $$,
  'a second upload of the same name'
);
select results_eq(
  $$ select count(*), max(o.metadata ->> 'mimetype') from storage.objects as o, sapi_paths as p
     where o.bucket_id = 'avatars' and o.name = p.alice $$,
  $$ values (1::bigint, 'image/webp') $$,
  'replaces the row''s metadata (still one row)'
);
select is(
  (select storage_api.object_mimetype('avatars', p.alice) from sapi_paths as p),
  'image/webp', 'and object_mimetype reports the new type'
);
select is(
  (select storage_api.object_mimetype('avatars', p.bob) from sapi_paths as p),
  null, 'no object: no mimetype'
);
select throws_ok(
  $$ select storage_api.upsert_object('avatars', 'x/avatar', 'not-a-uuid', '{}') $$,
  '22P02', null, 'an owner that is not a uuid is refused (owner is a uuid column)'
);

-- Who may not call what ------------------------------------------------------------------------------------
select tests.authenticate_as('sapi-alice');
select throws_ok(
  $$ select storage_api.upsert_object('avatars', p.alice, p.alice, '{}') from sapi_paths as p $$,
  '42501', null, 'a user cannot write object rows directly'
);
select throws_ok(
  $$ select storage_api.object_mimetype('avatars', p.alice) from sapi_paths as p $$,
  '42501', null, 'nor read them in the privileged mode'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select storage_api.can_insert_object('avatars', 'x/avatar') $$,
  '42501', null, 'service_role cannot ask can_insert_object'
);
select throws_ok(
  $$ select storage_api.object_visible('avatars', 'x/avatar') $$,
  '42501', null, 'nor object_visible'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select storage_api.can_insert_object('avatars', 'x/avatar') $$,
  '42501', null, 'anon cannot call can_insert_object'
);
select throws_ok(
  $$ select storage_api.object_visible('avatars', 'x/avatar') $$,
  '42501', null, 'nor object_visible'
);
select throws_ok(
  $$ select storage_api.upsert_object('avatars', 'x/avatar', 'x', '{}') $$,
  '42501', null, 'nor upsert_object'
);
select throws_ok(
  $$ select storage_api.object_mimetype('avatars', 'x/avatar') $$,
  '42501', null, 'nor object_mimetype'
);
select throws_ok(
  $$ select storage_api.delete_object('avatars', 'x/avatar') $$,
  '42501', null, 'nor delete_object'
);
select tests.clear_authentication();

-- delete_object: as the caller, the DELETE policies decide; the Storage API's allow-delete flag is set --
select tests.authenticate_as('sapi-bob');
select is(
  (select storage_api.delete_object('avatars', p.alice) from sapi_paths as p), false,
  'another user''s object is not deleted (the policy hides it)'
);
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.delete_object('avatars', p.alice) from sapi_paths as p), true,
  'the owner deletes their own object through the Storage API''s path'
);
select tests.clear_authentication();
select is(
  (
    select count(*)::integer from storage.objects as o, sapi_paths as p
    where o.bucket_id = 'avatars' and o.name = p.alice
  ),
  0, 'and the row is gone'
);
select tests.authenticate_as('sapi-alice');
select is(
  (select storage_api.delete_object('avatars', p.alice) from sapi_paths as p), false,
  'deleting what is not there deletes nothing'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select storage_api.delete_object('avatars', 'x/avatar') $$,
  '42501', null, 'service_role has no delete_object (the user''s own call)'
);
select tests.clear_authentication();

select * from finish();
rollback;
