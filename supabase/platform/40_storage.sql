-- Platform stand-in, part 4: the `storage` schema of the Supabase Storage API.
--
-- LOCAL STACK ONLY (see 10_roles.sql). Facts: reference/supabase-platform.md §1.3, §3.
--
-- Only buckets, objects, the path helpers and the triggers that shape them are reproduced. Storage's
-- search/listing functions, its migrations table and the S3 multipart tables are not: nothing of ours
-- calls them, and the Storage API itself does not run locally.

-- Owned by the superuser, as on hosted projects; `supabase db lint` skips it for that reason.
create schema if not exists storage authorization supabase_admin;

-- Policies on storage.objects are evaluated as the API roles and the migration role.
grant usage on schema storage to anon, authenticated, service_role;
grant usage on schema storage to postgres with grant option;
-- The owner of the tables needs USAGE for checks made with its privileges (foreign keys to storage.buckets
-- are checked as the bucket table's owner). It deliberately gets NO create privilege: `postgres` is made a
-- member of this role below, and CREATE here would let migrations add tables and functions to `storage`,
-- which hosted projects refuse.
grant usage on schema storage to supabase_storage_admin;

-- Bucket flavours (plain file buckets, analytics buckets, vector buckets).
create type storage.buckettype as enum ('STANDARD', 'ANALYTICS', 'VECTOR');

-- storage.buckets -------------------------------------------------------------------------------------
create table storage.buckets (
  id                 text not null,
  name               text not null,
  -- Deprecated: the creator's user id; its foreign key to auth.users was dropped upstream.
  owner              uuid,
  created_at         timestamptz default now(),
  updated_at         timestamptz default now(),
  public             boolean default false,
  avif_autodetection boolean default false,
  -- Maximum object size in BYTES, enforced by the Storage API (not by SQL). NULL = global limit only.
  file_size_limit    bigint default null,
  -- Allowed MIME types ('image/png', 'image/*'), enforced by the Storage API. NULL/empty = any.
  allowed_mime_types text[] default null,
  -- The creator's JWT `sub` as text (it need not be a uuid).
  owner_id           text default null,
  type               storage.buckettype not null default 'STANDARD',
  -- Object versioning (the newest upstream columns; the Storage API still treats them as preview).
  versioning_status  text not null default 'DISABLED',
  constraint buckets_pkey primary key (id)
);
create unique index bname on storage.buckets using btree (name);

-- storage.objects -------------------------------------------------------------------------------------
create table storage.objects (
  id               uuid not null default gen_random_uuid(),
  bucket_id        text,
  name             text,
  -- Deprecated uuid form of the uploader (set only when the JWT sub is a uuid); no foreign key.
  owner            uuid,
  created_at       timestamptz default now(),
  updated_at       timestamptz default now(),
  last_accessed_at timestamptz default now(),
  -- Written by the Storage API: mimetype, size, eTag, cacheControl, lastModified, contentLength, …
  metadata         jsonb,
  -- The name split on '/', kept in step with `name` by PostgreSQL itself.
  path_tokens      text[] generated always as (string_to_array(name, '/')) stored,
  version          text default null,
  -- The uploader's JWT `sub` as TEXT (compare with auth.uid()::text, not with a uuid).
  owner_id         text default null,
  user_metadata    jsonb,
  -- Object versioning (newest upstream columns, see buckets.versioning_status).
  archived_at      timestamptz,
  is_delete_marker boolean not null default false,
  is_versioned     boolean not null default false,
  constraint objects_pkey primary key (id),
  constraint "objects_bucketId_fkey" foreign key (bucket_id) references storage.buckets (id)
);
-- One object per name within a bucket.
create unique index bucketid_objname on storage.objects using btree (bucket_id, name);
-- Prefix searches (`name like 'folder/%'`).
create index name_prefix_search on storage.objects using btree (name text_pattern_ops);

-- Helper functions ------------------------------------------------------------------------------------
-- Latest upstream semantics, all IMMUTABLE: policies call them per row, and a VOLATILE helper used to
-- make `supabase db lint` complain about STABLE callers. Path segments are separated by '/'.

-- All segments but the last: 'a/b/c.png' -> {a,b}; 'c.png' -> {}.
create function storage.foldername(name text)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
declare
  parts text[] := pg_catalog.string_to_array(name, '/');
begin
  return parts[1 : pg_catalog.array_length(parts, 1) - 1];
end
$$;

-- The last segment: 'a/b/c.png' -> 'c.png'.
create function storage.filename(name text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  parts text[] := pg_catalog.string_to_array(name, '/');
begin
  return parts[pg_catalog.array_length(parts, 1)];
end
$$;

-- Whatever follows the LAST dot of the file name: 'a/b.tar.gz' -> 'gz'. A name without a dot yields the
-- whole file name (older versions returned the part after the first dot instead).
create function storage.extension(name text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  file_name text := storage.filename(name);
begin
  return pg_catalog.reverse(pg_catalog.split_part(pg_catalog.reverse(file_name), '.', 1));
end
$$;

-- Trigger functions -----------------------------------------------------------------------------------

-- Keeps objects.updated_at current on every update.
create function storage.update_updated_at_column()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

-- Bucket names double as URL path segments; upstream caps them at 100 characters.
create function storage.enforce_bucket_name_length()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.length(new.name) > 100 then
    raise exception 'bucket name "%" is % characters long; the limit is 100',
      new.name, pg_catalog.length(new.name);
  end if;
  return new;
end
$$;

-- Deleting rows directly would orphan the files in the object store, so the Storage API is the only
-- client allowed to delete: it sets storage.allow_delete_query = 'true' for its own transactions.
create function storage.protect_delete()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(pg_catalog.current_setting('storage.allow_delete_query', true), '') <> 'true' then
    raise exception 'deleting rows from storage.% directly is not allowed; delete through the Storage API',
        tg_table_name
      using errcode = '42501',
          hint = 'The Storage API sets storage.allow_delete_query = ''true'' for its own deletes.';
  end if;
  return null;
end
$$;

create trigger enforce_bucket_name_length_trigger
  before insert or update of name on storage.buckets
  for each row execute function storage.enforce_bucket_name_length();

create trigger update_objects_updated_at
  before update on storage.objects
  for each row execute function storage.update_updated_at_column();

-- Statement-level, so that even a DELETE matching no row is refused.
create trigger protect_buckets_delete
  before delete on storage.buckets
  for each statement execute function storage.protect_delete();

create trigger protect_objects_delete
  before delete on storage.objects
  for each statement execute function storage.protect_delete();

-- Ownership, RLS, privileges --------------------------------------------------------------------------
alter type storage.buckettype owner to supabase_storage_admin;
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;
alter function storage.foldername(text) owner to supabase_storage_admin;
alter function storage.filename(text) owner to supabase_storage_admin;
alter function storage.extension(text) owner to supabase_storage_admin;
alter function storage.update_updated_at_column() owner to supabase_storage_admin;
alter function storage.enforce_bucket_name_length() owner to supabase_storage_admin;
alter function storage.protect_delete() owner to supabase_storage_admin;

-- RLS on with no policies: API roles see and change nothing until a migration adds policies.
alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

-- Hosted grants everything on both tables to the API roles: RLS, not the grant, is what protects them.
grant all on table storage.buckets, storage.objects to anon, authenticated, service_role;
grant all on table storage.buckets, storage.objects to postgres with grant option;

-- Hosted projects let `postgres` create, alter and drop policies on storage tables it does not own (the
-- supautils extension). Plain PostgreSQL requires ownership for that, so the migration role becomes a
-- member of the owner. Everything else that ownership would allow (ALTER TABLE, DROP, CREATE INDEX,
-- CREATE TRIGGER …) is refused again by the event triggers in 50_guards.sql, and the owner role has no
-- CREATE on the schema, so the membership cannot be used to add objects to `storage` either.
grant supabase_storage_admin to postgres;
