-- Platform stand-in: the `storage` schema (reference/supabase-platform.md §1.3, §3). Runs as `postgres`.
-- Migrations add policies on storage.objects, so "no policies" is checked by dropping them inside this
-- (rolled back) transaction first.
begin;
select plan(49);

-- Schema ----------------------------------------------------------------------------------------------
select schema_owner_is(
  'storage', 'supabase_admin',
  'schema storage is owned by supabase_admin (so supabase db lint skips it)'
);
select ok(
  (
    select bool_and(has_schema_privilege(r, 'storage', 'usage'))
    from unnest(array['anon', 'authenticated', 'service_role', 'postgres']) as r
  ),
  'the API roles and postgres may use schema storage'
);
select ok(
  not has_schema_privilege('postgres', 'storage', 'create'),
  'postgres may not create objects in schema storage'
);
select schema_privs_are(
  'storage', 'supabase_storage_admin', array['USAGE'],
  'supabase_storage_admin has USAGE but no CREATE on storage (postgres is a member of it)'
);

-- Tables: shape ---------------------------------------------------------------------------------------
select
  table_owner_is(
    'storage', 'buckets', 'supabase_storage_admin', 'storage.buckets is owned by supabase_storage_admin'
  );
select
  table_owner_is(
    'storage', 'objects', 'supabase_storage_admin', 'storage.objects is owned by supabase_storage_admin'
  );
select enum_has_labels(
  'storage', 'buckettype', array['STANDARD', 'ANALYTICS', 'VECTOR'],
  'storage.buckettype has the three bucket types'
);
select results_eq(
  $$ select a.attname::text collate "default", pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
              a.attgenerated::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid) collate "default"
         from pg_catalog.pg_attribute as a
         left join pg_catalog.pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = 'storage.buckets'::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum $$,
  $$ values
        ('id', 'text', true, '', null::text),
        ('name', 'text', true, '', null),
        ('owner', 'uuid', false, '', null),
        ('created_at', 'timestamp with time zone', false, '', 'now()'),
        ('updated_at', 'timestamp with time zone', false, '', 'now()'),
        ('public', 'boolean', false, '', 'false'),
        ('avif_autodetection', 'boolean', false, '', 'false'),
        ('file_size_limit', 'bigint', false, '', null),
        ('allowed_mime_types', 'text[]', false, '', null),
        ('owner_id', 'text', false, '', null),
        ('type', 'storage.buckettype', true, '', '''STANDARD''::storage.buckettype'),
        ('versioning_status', 'text', true, '', '''DISABLED''::text') $$,
  'storage.buckets has the Storage API columns (name, type, not null, generated, default) in order'
);
select results_eq(
  $$ select a.attname::text collate "default", pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
              a.attgenerated::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid) collate "default"
         from pg_catalog.pg_attribute as a
         left join pg_catalog.pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = 'storage.objects'::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum $$,
  $$ values
        ('id', 'uuid', true, '', 'gen_random_uuid()'::text),
        ('bucket_id', 'text', false, '', null),
        ('name', 'text', false, '', null),
        ('owner', 'uuid', false, '', null),
        ('created_at', 'timestamp with time zone', false, '', 'now()'),
        ('updated_at', 'timestamp with time zone', false, '', 'now()'),
        ('last_accessed_at', 'timestamp with time zone', false, '', 'now()'),
        ('metadata', 'jsonb', false, '', null),
        ('path_tokens', 'text[]', false, 's', 'string_to_array(name, ''/''::text)'),
        ('version', 'text', false, '', null),
        ('owner_id', 'text', false, '', null),
        ('user_metadata', 'jsonb', false, '', null),
        ('archived_at', 'timestamp with time zone', false, '', null),
        ('is_delete_marker', 'boolean', true, '', 'false'),
        ('is_versioned', 'boolean', true, '', 'false') $$,
  'storage.objects has the Storage API columns (name, type, not null, generated, default) in order'
);
select col_is_pk('storage', 'buckets', 'id', 'storage.buckets.id is the primary key');
select col_is_pk('storage', 'objects', 'id', 'storage.objects.id is the primary key');
select fk_ok(
  'storage', 'objects', 'bucket_id', 'storage', 'buckets', 'id',
  'storage.objects.bucket_id references storage.buckets.id'
);
select has_index(
  'storage', 'objects', 'bucketid_objname', array['bucket_id', 'name'],
  'index bucketid_objname on storage.objects (bucket_id, name)'
);
select index_is_unique('storage', 'objects', 'bucketid_objname', 'bucketid_objname is unique');
select has_index(
  'storage', 'objects', 'name_prefix_search', 'name',
  'index name_prefix_search on storage.objects (name)'
);
select index_is_unique('storage', 'buckets', 'bname', 'bucket names are unique (index bname)');

-- Triggers --------------------------------------------------------------------------------------------
select trigger_is(
  'storage', 'objects', 'update_objects_updated_at', 'storage', 'update_updated_at_column',
  'storage.objects has the BEFORE UPDATE updated_at trigger'
);
select trigger_is(
  'storage', 'objects', 'protect_objects_delete', 'storage', 'protect_delete',
  'storage.objects has the delete guard'
);
select trigger_is(
  'storage', 'buckets', 'protect_buckets_delete', 'storage', 'protect_delete',
  'storage.buckets has the delete guard'
);
select trigger_is(
  'storage', 'buckets', 'enforce_bucket_name_length_trigger', 'storage', 'enforce_bucket_name_length',
  'storage.buckets has the bucket-name length check'
);

-- Privileges ------------------------------------------------------------------------------------------
select table_privs_are(
  'storage', 'objects', 'anon',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'anon has all privileges on storage.objects (RLS protects it)'
);
select table_privs_are(
  'storage', 'objects', 'authenticated',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'authenticated has all privileges on storage.objects (RLS protects it)'
);
select table_privs_are(
  'storage', 'objects', 'service_role',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has all privileges on storage.objects'
);
select table_privs_are(
  'storage', 'objects', 'postgres',
  array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'postgres has all privileges on storage.objects'
);
select ok(
  (select
    bool_and(has_table_privilege(
      r, 'storage.buckets',
      'select, insert, update, delete, truncate, references, trigger'
    ))
  from unnest(array['anon', 'authenticated', 'service_role', 'postgres']) as r),
  'anon, authenticated, service_role and postgres have all privileges on storage.buckets'
);

-- RLS: on, and with no policies nobody but BYPASSRLS roles sees or writes a row -----------------------
select tests.rls_enabled('storage', 'buckets');
select tests.rls_enabled('storage', 'objects');

insert into storage.buckets (id, name) values ('platform-test', 'platform-test');
insert into storage.objects (bucket_id, name, owner_id, metadata, updated_at)
values ('platform-test', 'u1/avatars/me.png', 'u1', '{"mimetype": "image/png", "size": 1234}', '2000-01-01');

do $$
declare
    p record;
begin
    for p in select policyname, tablename from pg_catalog.pg_policies
              where schemaname = 'storage' and tablename in ('buckets', 'objects') loop
        execute format('drop policy %I on storage.%I', p.policyname, p.tablename);
    end loop;
end
$$;
select policies_are(
  'storage', 'objects', '{}'::name[],
  'with the policies dropped, storage.objects has none'
);

set local role anon;
select is((select count(*) from storage.objects), 0::bigint, 'without policies anon sees no objects');
select is((select count(*) from storage.buckets), 0::bigint, 'without policies anon sees no buckets');
reset role;
set local role authenticated;
select is(
  (select count(*) from storage.objects), 0::bigint,
  'without policies authenticated sees no objects'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('platform-test', 'u1/x.png') $$,
  '42501', null, 'without policies authenticated cannot upload'
);
reset role;
set local role service_role;
select is(
  (
    select count(*) from storage.objects
    where bucket_id = 'platform-test'
  ), 1::bigint,
  'service_role bypasses RLS'
);
reset role;

-- Generated and triggered columns ---------------------------------------------------------------------
select is(
  (
    select o.path_tokens from storage.objects as o
    where o.name = 'u1/avatars/me.png'
  ),
  array['u1', 'avatars', 'me.png'], 'path_tokens is the name split on /'
);
update storage.objects set metadata = '{"size": 1}'
where name = 'u1/avatars/me.png';
select is(
  (
    select o.updated_at from storage.objects as o
    where o.name = 'u1/avatars/me.png'
  ), now(),
  'an update sets updated_at'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('platform-test', 'u1/avatars/me.png') $$,
  '23505', null, 'one object per name within a bucket'
);
select throws_ok(
  format($$ insert into storage.buckets (id, name) values ('long', %L) $$, repeat('b', 101)),
  null, null, 'bucket names longer than 100 characters are refused'
);

-- Direct deletes are refused unless the Storage API's setting is on -----------------------------------
select throws_ok(
  $$ delete from storage.objects where name = 'u1/avatars/me.png' $$, '42501', null,
  'a direct delete from storage.objects is refused'
);
select throws_ok(
  $$ delete from storage.buckets where id = 'nothing' $$, '42501', null,
  'a direct delete from storage.buckets is refused, even when it matches no row'
);
set local "storage.allow_delete_query" = 'true';
select lives_ok(
  $$ delete from storage.objects where name = 'u1/avatars/me.png' $$,
  'with storage.allow_delete_query = true the delete goes through (as the Storage API does)'
);
select lives_ok(
  $$ delete from storage.buckets where id = 'platform-test' $$,
  'with storage.allow_delete_query = true a bucket can be deleted'
);
set local "storage.allow_delete_query" = 'false';

-- Path helpers ----------------------------------------------------------------------------------------
select results_eq(
  $$ select p.proname::text collate "default", p.provolatile::text
         from pg_catalog.pg_proc as p
        where p.pronamespace = 'storage'::regnamespace
          and p.proname in ('foldername', 'filename', 'extension')
        order by p.proname $$,
  $$ values ('extension', 'i'), ('filename', 'i'), ('foldername', 'i') $$,
  'storage.foldername/filename/extension exist and are IMMUTABLE'
);
select is(
  storage.foldername('u1/avatars/me.png'), array['u1', 'avatars'],
  'foldername: all but the last segment'
);
select is(storage.foldername('me.png'), '{}'::text[], 'foldername of a bare file name is empty');
select is(
  (storage.foldername('u1/me.png'))[1], 'u1',
  'foldername()[1] is the top folder (the usual policy check)'
);
select is(storage.filename('u1/avatars/me.png'), 'me.png', 'filename: the last segment');
select is(storage.extension('u1/archive.tar.gz'), 'gz', 'extension: text after the last dot');
select is(
  storage.extension('u1/README'), 'README',
  'extension of a name without a dot is the whole file name'
);
select ok(
  has_function_privilege('authenticated', 'storage.foldername(text)', 'execute')
  and has_function_privilege('anon', 'storage.extension(text)', 'execute'),
  'the API roles can call the path helpers in policies'
);

select * from finish();
rollback;
