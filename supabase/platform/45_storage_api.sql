-- Platform stand-in, part 4b: the database calls the Storage API server makes, for the local stack's
-- storage adapter (supabase/functions/avatar/storage.py, LocalStorage).
--
-- LOCAL STACK ONLY (see 10_roles.sql). On a hosted project the Storage API server runs these statements
-- itself, over its own connection; nothing of ours calls them there. Locally the edge app stands in for
-- that server, and it reaches the database only through the database port (thinbase.db), so the
-- statements live here as functions the port can call, each as the role the Storage API would use:
--   * as the user (`authenticated`, the user's claims): signing an upload URL asks whether RLS lets the
--     user insert the object; signing a download URL asks whether the user can see it;
--   * as `service_role` (the Storage API's privileged mode, after it verified a signed URL's token):
--     writing the object's row after an upload, reading its content type for a download.
-- All are SECURITY INVOKER, so storage.objects' RLS policies decide exactly as for the caller's role.
--
-- Schema `storage_api` is ours alone: hosted projects have no such schema, and the local gateway
-- (supabase/functions/rest_gateway) exposes only `public` (and `tests` while the test suite runs), so no
-- client can call these through /rest/v1. Owned by the superuser and with no CREATE for anyone, so
-- migrations (as `postgres`) can neither add to it nor change these functions.

create schema storage_api authorization supabase_admin;
comment on schema storage_api is
'Local stack only: the Storage API server''s database calls, for the edge app''s local storage adapter.';

-- Only the roles the Storage API acts as. Not anon (it never uploads or signs), not postgres (migrations
-- have no business here).
grant usage on schema storage_api to authenticated, service_role;

-- May the caller insert this object? ------------------------------------------------------------------
-- What the Storage API does before it signs an upload URL (upstream: storage.can_insert_object): insert
-- the row as the caller, so the INSERT policies decide, then undo it. The insert runs in a block of its
-- own; raising inside the block rolls back to the block's savepoint, so a row that was allowed never
-- stays. The row carries what an upload would write: the caller's `sub` as owner and owner_id.
--   true:  the policies allow the insert; or the object exists already (unique violation, reached only
--          after the policies passed), which makes the upload an upsert the UPDATE policies decide;
--   false: the policies (or the grants) refuse it (42501).
-- Any other error (a missing bucket, a malformed sub) is raised to the caller, as the insert would be.
create function storage_api.can_insert_object(bucket_id text, name text)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  sub text := (select auth.jwt()) ->> 'sub';
begin
  begin
    insert into storage.objects (bucket_id, name, owner, owner_id)
    values (can_insert_object.bucket_id, can_insert_object.name, sub::uuid, sub);
    -- Upstream's own sentinel for "allowed, now roll back": only this raise uses it.
    raise exception using errcode = 'PT200', message = 'ROLLBACK', detail = 'rollback successful insert';
  exception
    when sqlstate 'PT200' then
      return true;
    when unique_violation then
      return true;
    when insufficient_privilege then
      return false;
  end;
end
$$;

revoke execute on function storage_api.can_insert_object(text, text) from public;
grant execute on function storage_api.can_insert_object(text, text) to authenticated;

-- Can the caller see this object? ---------------------------------------------------------------------
-- What the Storage API does before it signs a download URL: look the object up as the caller, so the
-- SELECT policies decide.
create function storage_api.object_visible(bucket_id text, name text)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select exists (
    select 1 from storage.objects as o
    where o.bucket_id = object_visible.bucket_id and o.name = object_visible.name
  )
$$;

revoke execute on function storage_api.object_visible(text, text) from public;
grant execute on function storage_api.object_visible(text, text) to authenticated;

-- Write an uploaded object's row ----------------------------------------------------------------------
-- After the Storage API verified a signed upload URL's token, it writes the row in its privileged mode
-- (as service_role, which bypasses RLS), as an upsert: the owner is the token's, and the metadata what
-- the upload measured (size, mimetype ...). Re-uploading the same name replaces owner and metadata.
create function storage_api.upsert_object(bucket_id text, name text, owner_id text, metadata jsonb)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into storage.objects (bucket_id, name, owner, owner_id, metadata)
  values (
    upsert_object.bucket_id, upsert_object.name, upsert_object.owner_id::uuid, upsert_object.owner_id,
    upsert_object.metadata
  )
  on conflict (bucket_id, name) do update
  set metadata = excluded.metadata, owner = excluded.owner, owner_id = excluded.owner_id,
      updated_at = pg_catalog.now()
$$;

revoke execute on function storage_api.upsert_object(text, text, text, jsonb) from public;
grant execute on function storage_api.upsert_object(text, text, text, jsonb) to service_role;

-- An object's content type ----------------------------------------------------------------------------
-- Serving a signed download URL (token verified), in the privileged mode: the mimetype the upload
-- recorded, or null when there is no such object or it recorded none.
create function storage_api.object_mimetype(bucket_id text, name text)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select o.metadata ->> 'mimetype' from storage.objects as o
  where o.bucket_id = object_mimetype.bucket_id and o.name = object_mimetype.name
$$;

revoke execute on function storage_api.object_mimetype(text, text) from public;
grant execute on function storage_api.object_mimetype(text, text) to service_role;

-- Delete the caller's object ------------------------------------------------------------------------------
-- What the Storage API does for DELETE /object/{bucket}/{name} with the user's JWT: it sets
-- storage.allow_delete_query for its own request (direct deletes are refused otherwise, see
-- storage.protect_delete) and deletes as the caller, so the DELETE policies decide. True when a row went
-- (the edge app then removes the file).
create function storage_api.delete_object(bucket_id text, name text)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  perform pg_catalog.set_config('storage.allow_delete_query', 'true', true);
  delete from storage.objects as o
  where o.bucket_id = delete_object.bucket_id and o.name = delete_object.name;
  return found;
end
$$;

revoke execute on function storage_api.delete_object(text, text) from public;
grant execute on function storage_api.delete_object(text, text) to authenticated;
