-- What the API roles may do in `public`, stated once and enforced on every kind of project.
--
-- Projects created before Supabase stopped exposing new objects by default carry default privileges,
-- set for the role `postgres` in schema public, that give anon, authenticated and service_role ALL on
-- every table and sequence and EXECUTE on every function a migration creates. Our migrations grant
-- explicitly, so on a new project (and on the local stack) this migration changes nothing; on such an
-- older project the earlier migrations' objects received those default grants too. RLS and the
-- definer helpers in `private` still refused every service and admin call (tested), but one gap was
-- real: UPDATE on every column of the caller's own profile, where only `full_name` is meant to be
-- writable. This migration removes those defaults for the future and takes back what they gave, so that
-- the privileges equal the reviewed allow-list (tests/security/privileges_allowlist.json) on both kinds of
-- project. Later migrations keep granting explicitly, right after each object.

alter default privileges in schema public revoke all on tables from anon, authenticated, service_role;
alter default privileges in schema public revoke all on sequences from anon, authenticated, service_role;
alter default privileges in schema public revoke all on functions from anon, authenticated, service_role;

-- Tables: the API roles read through RLS; only service_role writes; nobody truncates or adds triggers.
revoke insert, update, delete, truncate, references, trigger on all tables in schema public
from anon, authenticated;
revoke truncate, references, trigger on all tables in schema public from service_role;
revoke all on all sequences in schema public from anon, authenticated;
revoke select on public.profiles, public.user_roles, public.subscriptions, public.payments, public.ai_usage,
public.waitlist from anon;
revoke select on public.waitlist from authenticated;
-- The one write a user makes on a table (revoking table-level UPDATE above revoked column grants too).
grant update (full_name) on public.profiles to authenticated;

-- Functions: anon reaches three; a signed-in user also the user RPCs and the admin and operator RPCs
-- (each checks user_roles itself); the service RPCs stay service_role's alone.
revoke execute on all functions in schema public from anon, authenticated;
grant execute on function
public.currency_exponents(),
public.plan_catalog(),
public.join_waitlist(text, text)
to anon, authenticated;
grant execute on function
public.create_payment(text, text, text),
public.set_cancel_at_period_end(boolean),
public.update_profile(text, text),
public.my_ai_usage(),
public.admin_bootstrap(text[]),
public.admin_get_webhook_event(uuid),
public.admin_list_audit(uuid, text, text, text, timestamptz, bigint, integer),
public.admin_list_payments(text, text, timestamptz, uuid, text, integer, integer),
public.admin_list_users(text, integer, integer),
public.admin_list_webhook_events(text, text, timestamptz, text, integer, integer),
public.admin_payment_metrics(),
public.admin_reset_rate_limit(text, text),
public.admin_revenue_by_day(integer),
public.admin_set_role(text, text),
public.admin_upsert_plan(text, text, text, jsonb, bigint, integer, integer, text, boolean, text, integer),
public.operator_diagnostics(),
public.operator_get_payment(text),
public.operator_get_rate_limit(text, text),
public.operator_get_user(text),
public.operator_list_admins(),
public.operator_list_plans(),
public.operator_pending_payments(timestamptz, text, boolean, integer),
public.operator_replay_webhook_event(uuid)
to authenticated;
-- The user-facing RPCs act on the caller (auth.uid()); the service role has no caller and does not call them.
revoke execute on function
public.create_payment(text, text, text),
public.join_waitlist(text, text),
public.my_ai_usage(),
public.set_cancel_at_period_end(boolean),
public.update_profile(text, text)
from service_role;
