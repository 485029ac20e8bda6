-- Private helpers are executable only by the roles whose invoker functions call them, and the IP-hash salt
-- leaves the settings row. This SUPERSEDES the EXECUTE grants of these helpers (each from the migration that
-- defined it): private.current_settings (20261122001000_currencies_and_settings), private.is_admin and
-- private.require_admin (20261122001100_roles), private.cleanup_rate_limit_buckets
-- (20261122001600_rate_limits), private.write_audit (20261122001700_audit_log), private.page_size
-- (20261122001800_admin_rpcs), private.request_client_ip, private.hash_ip and private.normalize_email
-- (20261122002000_client_ip_settings), private.effective_plan, private.utc_month and
-- private.release_expired_ai_holds (20261122002200_ai_usage); the body of private.hash_ip and the column
-- private.settings.ip_hash_salt (20261122002000_client_ip_settings). Every public RPC keeps its signature,
-- grants and results; every IP hash already stored stays comparable (the salt moves, its value does not).
--
-- Why: those grants let a signed-in user (any session that can `set role authenticated`, and the API roles
-- generally) call the helpers directly: current_settings() returned the IP-hash salt and the admin
-- bootstrap list, write_audit() appended any audit entry under the caller's name, effective_plan(uid) and
-- is_admin(uid) answered about other users. `private` is not exposed by PostgREST, but a grant there is
-- still a grant, and the API roles never needed these: a security definer function runs as its owner, so
-- the helpers it calls need no grant to its callers.
--
-- How (read from pg_proc: prosecdef, proacl and every body, policy, default and check that names a helper):
--   * called only by definer functions, so no API role keeps EXECUTE: is_admin, require_admin, write_audit,
--     page_size, request_client_ip, effective_plan, utc_month, release_expired_ai_holds,
--     cleanup_rate_limit_buckets. No policy, column default or check constraint calls a private helper.
--   * called by invoker functions that only service_role may execute, so service_role keeps EXECUTE and
--     anon/authenticated lose it: current_settings (claim_webhook_event, record_contact_submission, and
--     activate_paid_plan/revert_refunded_plan under apply_payment_event), hash_ip and normalize_email
--     (record_contact_submission). join_waitlist reaches them through its definer half, which needs nothing.
--   * the salt: current_settings() is needed by the service RPCs above, and service_role reads
--     private.settings itself, so the salt cannot stay in that row. It moves to private.ip_hash_salt, a
--     one-row table no API role may read; hash_ip (definer) reads it there and returns only hashes.
--     Rotating it (which makes old hashes incomparable) is the database owner's job:
--     `update private.ip_hash_salt set salt = extensions.gen_random_bytes(32)` as `postgres`.
-- sql_tests/019_privileges_catalog.sql holds the reviewed list of what each API role may still execute in
-- `private` and why, and checks that each such grant is needed by an invoker function the role may call.

-- The salt, on its own -------------------------------------------------------------------------------------
create table private.ip_hash_salt (
  id boolean primary key default true,
  salt bytea not null default extensions.gen_random_bytes(32),
  -- Exactly one row: the primary key can only be true.
  constraint ip_hash_salt_singleton check (id),
  -- At least 16 random bytes, or the hashes of the small IPv4 space are easy to reverse.
  constraint ip_hash_salt_length check (octet_length(salt) >= 16)
);

comment on table private.ip_hash_salt is
'The salt of private.hash_ip; readable only by its owner (no API role has any privilege here)';

alter table private.ip_hash_salt enable row level security;
-- No grants, on purpose: only private.hash_ip (security definer, owned by the migration role) reads it.

-- The install's existing salt, so that every hash already stored (waitlist, contact submissions) still
-- matches the hash of the same IP.
insert into private.ip_hash_salt (salt)
values (
  coalesce(
    (
      select s.ip_hash_salt from private.settings as s
      where s.id
    ),
    extensions.gen_random_bytes(32)
  )
);

create or replace function private.hash_ip(ip text)
returns bytea
language sql
stable
security definer
set search_path = ''
as $$
  select case when ip is null then null
    else pg_catalog.sha256(
      (select s.salt from private.ip_hash_salt as s where s.id) || pg_catalog.convert_to(ip, 'UTF8')
    ) end
$$;

-- Nothing else reads the column (hash_ip was its only reader); current_settings() now returns no salt.
alter table private.settings drop column ip_hash_salt;

-- Grants ----------------------------------------------------------------------------------------------------
-- Definer callers only: no API role.
revoke execute on function private.is_admin(uuid) from anon, authenticated, service_role;
revoke execute on function private.require_admin() from anon, authenticated, service_role;
revoke execute on function private.write_audit(text, text, text, jsonb, jsonb)
from anon, authenticated, service_role;
revoke execute on function private.page_size(integer) from anon, authenticated, service_role;
revoke execute on function private.request_client_ip() from anon, authenticated, service_role;
revoke execute on function private.effective_plan(uuid) from anon, authenticated, service_role;
revoke execute on function private.utc_month(timestamptz) from anon, authenticated, service_role;
revoke execute on function private.release_expired_ai_holds(timestamptz, uuid)
from anon, authenticated, service_role;
revoke execute on function private.cleanup_rate_limit_buckets(timestamptz)
from anon, authenticated, service_role;

-- Invoker callers that run as service_role only: service_role keeps EXECUTE, nobody else has it.
revoke execute on function private.current_settings() from anon, authenticated;
revoke execute on function private.hash_ip(text) from anon, authenticated;
revoke execute on function private.normalize_email(text) from anon, authenticated;
grant execute on function private.current_settings() to service_role;
grant execute on function private.hash_ip(text) to service_role;
grant execute on function private.normalize_email(text) to service_role;
