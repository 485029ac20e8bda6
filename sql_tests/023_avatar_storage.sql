-- Avatar storage: the private `avatars` bucket, the storage.objects policies that let a user insert, read,
-- replace and delete exactly `<own uid>/avatar`, and update_profile(). Rows are written the way the Storage
-- API writes them (as the caller's role, with the caller's claims; deletes with storage.allow_delete_query).
-- Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(64);

do $$
begin
  perform tests.create_supabase_user('av-alice');
  perform tests.create_supabase_user('av-bob');
  perform tests.create_supabase_user('av-admin');
end
$$;
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('av-admin');

-- A second bucket, to show the policies are about `avatars` only.
insert into storage.buckets (id, name) values ('other-bucket', 'other-bucket');

-- Paths used below, readable by every role the test switches to.
create temporary view paths as
select
  tests.get_supabase_uid('av-alice')::text || '/avatar' as alice,
  tests.get_supabase_uid('av-bob')::text || '/avatar' as bob,
  tests.get_supabase_uid('av-alice')::text || '/other' as alice_other,
  tests.get_supabase_uid('av-admin')::text || '/avatar' as admin;
grant select on paths to anon, authenticated, service_role;

-- The bucket ------------------------------------------------------------------------------------------
select results_eq(
  $$ select b.name, b.public, b.file_size_limit, b.allowed_mime_types from storage.buckets as b
     where b.id = 'avatars' $$,
  $$ values (
       'avatars', false, 2097152::bigint, array['image/jpeg', 'image/png', 'image/webp', 'image/gif']
     ) $$,
  'the avatars bucket: private, 2 MB, JPEG, PNG, WebP and GIF'
);

-- The policies ----------------------------------------------------------------------------------------
select policies_are(
  'storage', 'objects',
  array['avatars_insert_own', 'avatars_select_own', 'avatars_update_own', 'avatars_delete_own'],
  'storage.objects has our four policies and no others'
);
select policy_cmd_is(
  'storage', 'objects', 'avatars_insert_own', 'insert', 'avatars_insert_own is for insert'
);
select policy_cmd_is(
  'storage', 'objects', 'avatars_select_own', 'select', 'avatars_select_own is for select'
);
select policy_cmd_is(
  'storage', 'objects', 'avatars_update_own', 'update', 'avatars_update_own is for update'
);
select policy_cmd_is(
  'storage', 'objects', 'avatars_delete_own', 'delete', 'avatars_delete_own is for delete'
);
select policy_roles_are(
  'storage', 'objects', 'avatars_insert_own', array['authenticated'], 'insert: authenticated only'
);
select policy_roles_are(
  'storage', 'objects', 'avatars_select_own', array['authenticated'], 'select: authenticated only'
);
select policy_roles_are(
  'storage', 'objects', 'avatars_update_own', array['authenticated'], 'update: authenticated only'
);
select policy_roles_are(
  'storage', 'objects', 'avatars_delete_own', array['authenticated'], 'delete: authenticated only'
);
select is_empty(
  $$ select 1 from pg_catalog.pg_policies as p where p.schemaname = 'storage' and p.tablename = 'buckets' $$,
  'no policy on storage.buckets: API roles do not list buckets'
);

-- The owner -----------------------------------------------------------------------------------------------
select tests.authenticate_as('av-alice');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner_id, metadata)
     select 'avatars', p.alice, tests.get_supabase_uid('av-alice')::text, '{"mimetype": "image/png"}'
     from paths as p $$,
  'the owner may upload <uid>/avatar'
);
select results_eq(
  $$ select o.name, o.metadata ->> 'mimetype' from storage.objects as o $$,
  $$ select p.alice, 'image/png' from paths as p $$,
  'the owner sees her avatar'
);
select results_eq(
  $$ update storage.objects as o set metadata = '{"mimetype": "image/webp"}'
     from paths as p where o.bucket_id = 'avatars' and o.name = p.alice returning o.metadata ->> 'mimetype' $$,
  $$ values ('image/webp') $$,
  'the owner may replace it'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'avatars', p.alice_other from paths as p $$,
  '42501', null, 'the owner may not upload any other name in her folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'avatars', p.alice || '/x' from paths as p $$,
  '42501', null, 'nor below the avatar name'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     select 'avatars', tests.get_supabase_uid('av-alice')::text || '/Avatar' $$,
  '42501', null, 'names are compared exactly'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('avatars', 'avatar') $$,
  '42501', null, 'nor outside her folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'avatars', p.bob from paths as p $$,
  '42501', null, 'she may not upload to another user''s avatar path'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     select 'avatars', p.alice || '/../' || p.bob from paths as p $$,
  '42501', null, 'nor reach it with a relative path'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'other-bucket', p.alice from paths as p $$,
  '42501', null, 'she may not use her avatar name in another bucket'
);
select throws_ok(
  $$ update storage.objects as o set name = p.alice_other from paths as p where o.name = p.alice $$,
  '42501', null, 'she may not rename her avatar to another name'
);
select throws_ok(
  $$ update storage.objects as o set name = p.bob from paths as p where o.name = p.alice $$,
  '42501', null, 'nor move it onto another user''s path'
);
select throws_ok(
  $$ update storage.objects as o set bucket_id = 'other-bucket' from paths as p where o.name = p.alice $$,
  '42501', null, 'nor into another bucket'
);
select throws_ok(
  $$ delete from storage.objects $$, '42501', null,
  'a direct delete is refused (only the Storage API deletes: storage.allow_delete_query)'
);
select tests.clear_authentication();

-- Objects the owner must not see, put there by the service (bypassing the policies).
insert into storage.objects (bucket_id, name, owner_id)
select
  t.bucket_id,
  t.name,
  t.owner_id
from paths as p
cross join lateral (
  values
  ('avatars', p.bob, tests.get_supabase_uid('av-bob')::text),
  ('avatars', p.alice_other, tests.get_supabase_uid('av-alice')::text),
  ('other-bucket', p.alice, tests.get_supabase_uid('av-alice')::text),
  ('avatars', p.admin, tests.get_supabase_uid('av-admin')::text)
) as t (bucket_id, name, owner_id);

select tests.authenticate_as('av-alice');
select results_eq(
  $$ select o.bucket_id, o.name from storage.objects as o $$,
  $$ select 'avatars', p.alice from paths as p $$,
  'the owner sees only avatars/<her uid>/avatar: not bob''s, not her other name, not other buckets'
);
select is_empty(
  $$ update storage.objects as o set metadata = '{}' from paths as p
     where o.name in (p.bob, p.alice_other, p.admin) or o.bucket_id = 'other-bucket' returning o.id $$,
  'she cannot change any object but her avatar'
);
set local "storage.allow_delete_query" = 'true';
select is_empty(
  $$ delete from storage.objects as o using paths as p
     where o.name in (p.bob, p.alice_other, p.admin) or o.bucket_id = 'other-bucket' returning o.id $$,
  'she cannot delete any object but her avatar'
);
select results_eq(
  $$ delete from storage.objects as o using paths as p where o.bucket_id = 'avatars' and o.name = p.alice
     returning o.name $$,
  $$ select p.alice from paths as p $$,
  'the owner may delete her avatar (as the Storage API does)'
);
select is_empty($$ select 1 from storage.objects $$, 'it is gone');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner_id)
     select 'avatars', p.alice, tests.get_supabase_uid('av-alice')::text from paths as p $$,
  'and may upload a new one'
);
set local "storage.allow_delete_query" = '';
select tests.clear_authentication();
select results_eq(
  $$ select count(*) from storage.objects as o, paths as p
     where (o.bucket_id, o.name) in (('avatars', p.bob), ('avatars', p.alice_other), ('other-bucket', p.alice)) $$,
  $$ values (3::bigint) $$,
  'the objects she could not touch are all still there'
);

-- Another user ---------------------------------------------------------------------------------------
select tests.authenticate_as('av-bob');
select results_eq(
  $$ select o.name from storage.objects as o $$,
  $$ select p.bob from paths as p $$,
  'bob sees his own avatar only'
);
select is_empty(
  $$ update storage.objects as o set metadata = '{"x": 1}' from paths as p where o.name = p.alice
     returning o.id $$,
  'bob cannot replace alice''s avatar'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'avatars', p.alice from paths as p $$,
  '42501', null, 'bob cannot upload to alice''s path (it exists; the policy refuses before the conflict)'
);
select tests.authenticate_as('av-admin');
select results_eq(
  $$ select o.name from storage.objects as o $$,
  $$ select p.admin from paths as p $$,
  'an admin, too, sees only their own avatar through the API'
);

-- anon ---------------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select is_empty($$ select 1 from storage.objects $$, 'anon sees no object');
select is_empty($$ select 1 from storage.buckets $$, 'anon sees no bucket (the bucket is private)');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) select 'avatars', p.alice from paths as p $$,
  '42501', null, 'anon cannot upload'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('avatars', 'anon/avatar') $$,
  '42501', null, 'anon cannot upload anywhere'
);
select is_empty(
  $$ update storage.objects set metadata = '{}' returning id $$, 'anon cannot change objects'
);
set local "storage.allow_delete_query" = 'true';
select is_empty($$ delete from storage.objects returning id $$, 'anon cannot delete objects');
set local "storage.allow_delete_query" = '';
select tests.authenticate_as_service_role();
select cmp_ok(
  (
    select count(*) from storage.objects as o, paths as p
    where o.bucket_id = 'avatars' and o.name in (p.alice, p.bob, p.admin)
  ),
  '=', 3::bigint, 'service_role sees every avatar'
);
select tests.clear_authentication();

-- update_profile ------------------------------------------------------------------------------------
select isnt_definer('public', 'update_profile', array['text', 'text'], 'public.update_profile is invoker');
select is_definer('private', 'update_profile', array['text', 'text'], 'private.update_profile is definer');

select tests.authenticate_as('av-alice');
select results_eq(
  $$ select r.id = tests.get_supabase_uid('av-alice'), r.full_name, r.avatar_path, r.updated_at
     from public.update_profile(full_name => '  Alice  ', avatar_path => (select p.alice from paths as p)) as r $$,
  $$ select true, 'Alice', p.alice, now() from paths as p $$,
  'the owner sets her name (trimmed) and her own avatar path; the new profile is returned'
);
select results_eq(
  $$ select r.full_name, r.avatar_path from public.update_profile() as r $$,
  $$ select 'Alice', p.alice from paths as p $$,
  'null arguments leave both fields as they are'
);
select results_eq(
  $$ select r.full_name, r.avatar_path from public.update_profile(full_name => 'Alice L.') as r $$,
  $$ select 'Alice L.', p.alice from paths as p $$,
  'a name alone leaves the avatar'
);
select throws_ok(
  $$ select public.update_profile(avatar_path => (select p.bob from paths as p)) $$,
  'PT403', 'invalid_avatar_path', 'another user''s avatar path: PT403 invalid_avatar_path'
);
select throws_ok(
  $$ select public.update_profile(avatar_path => (select p.alice_other from paths as p)) $$,
  'PT403', 'invalid_avatar_path', 'another name in her own folder: PT403'
);
select throws_ok(
  $$ select public.update_profile(avatar_path => 'avatars/' || (select p.alice from paths as p)) $$,
  'PT403', 'invalid_avatar_path', 'her path with a bucket prefix: PT403 (paths are bucket-relative)'
);
select throws_ok(
  $$ select public.update_profile(full_name => repeat('n', 201)) $$,
  'PT400', 'invalid_full_name', 'a name longer than 200 characters: PT400'
);
select results_eq(
  $$ select r.full_name, r.avatar_path from public.update_profile('x', null) as r $$,
  $$ select 'x', p.alice from paths as p $$,
  'refused calls changed nothing'
);
select results_eq(
  $$ select r.full_name, r.avatar_path from public.update_profile(avatar_path => '') as r $$,
  $$ values ('x', null::text) $$,
  'an empty avatar path clears it'
);
select results_eq(
  $$ select r.full_name, r.avatar_path from public.update_profile(full_name => '   ') as r $$,
  $$ values (null::text, null::text) $$,
  'an empty (or blank) name clears it'
);
select lives_ok(
  $$ select public.update_profile('Alice', (select p.alice from paths as p)) $$, 'set both again'
);
select tests.clear_authentication();
select results_eq(
  $$ select a.actor_kind, a.actor_user_id = tests.get_supabase_uid('av-alice'), a.after ->> 'avatar_path'
     from private.audit_logs as a
     where a.action = 'profiles.update' and a.entity_id = tests.get_supabase_uid('av-alice')::text
     order by a.id desc limit 1 $$,
  $$ select 'user', true, p.alice from paths as p $$,
  'profile changes through update_profile are audited as the user'
);

-- Another user's update_profile touches only their own profile.
select tests.authenticate_as('av-bob');
select results_eq(
  $$ select r.id = tests.get_supabase_uid('av-bob'), r.full_name, r.avatar_path
     from public.update_profile('Bob', (select p.bob from paths as p)) as r $$,
  $$ select true, 'Bob', p.bob from paths as p $$,
  'bob sets his own profile'
);
select throws_ok(
  $$ select public.update_profile(avatar_path => (select p.alice from paths as p)) $$,
  'PT403', 'invalid_avatar_path', 'bob cannot point his profile at alice''s avatar'
);
select tests.clear_authentication();
select results_eq(
  $$ select p.full_name, p.avatar_path from public.profiles as p
     where p.id = tests.get_supabase_uid('av-alice') $$,
  $$ select 'Alice', p.alice from paths as p $$,
  'alice''s profile is untouched by bob'
);

-- anon and service_role.
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.update_profile('x', null) $$, '42501', null, 'anon cannot call update_profile'
);
select throws_ok(
  $$ select private.update_profile('x', null) $$, '42501', null, 'nor its private half'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select public.update_profile('x', null) $$, '42501', null,
  'service_role cannot call update_profile (it has no profile; it writes profiles directly)'
);

-- A signed-in role without a user id (a malformed token): PT401.
select tests.authenticate_as('av-alice');
do $$ begin perform set_config('request.jwt.claims', '{"role": "authenticated"}', true); end $$;
select throws_ok(
  $$ select public.update_profile('x', null) $$, 'PT401', 'not_authenticated', 'no sub claim: PT401'
);
select tests.clear_authentication();

select * from finish();
rollback;
