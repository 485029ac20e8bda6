-- Platform stand-in, part 3b: Supabase Auth's sessions, and the database work its server does for the
-- local gateway's /auth/v1 (supabase/functions/rest_gateway/auth.py).
--
-- LOCAL STACK ONLY (see 10_roles.sql). Facts: GoTrue (supabase/auth) migrations for the tables,
-- internal/api/{signup,token,token_refresh,user,logout}.go and internal/tokens/service.go for the
-- behaviour; reference/supabase-platform.md §2, §5.
--
-- On a hosted project Supabase Auth (GoTrue) owns these tables and runs these statements itself, over its
-- own connection as supabase_auth_admin. Locally the edge app stands in for that server, and it reaches the
-- database only through the database port (thinbase.db), so the statements live here as functions the port
-- can call. They are SECURITY DEFINER owned by supabase_auth_admin, so they act exactly as GoTrue's
-- connection would: users are inserted as supabase_auth_admin (the onboarding trigger on auth.users fires
-- as on a project), and the tables' RLS (on, no policies) does not apply to their owner.
--
-- Schema `auth_api` is ours alone: hosted projects have no such schema, and the local gateway exposes only
-- `public` (and `tests` while the test suite runs), so no client can call these through /rest/v1. Only
-- service_role may execute them (the gateway calls them as the service role, as GoTrue holds its own
-- privileged connection). Owned by the superuser with no CREATE for anyone: migrations (as `postgres`)
-- can neither add to it nor change these functions.
--
-- Errors a client should see are raised as `PT<status>` with GoTrue's error code as the message and its
-- human message as the detail; the gateway answers them in GoTrue's error shape.

-- auth.aal_level, auth.identities, auth.sessions, auth.refresh_tokens -------------------------------------
-- The final column sets after all GoTrue migrations, in GoTrue's column order.

create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');
alter type auth.aal_level owner to supabase_auth_admin;

create table auth.identities (
  provider_id     text not null,
  user_id         uuid not null,
  identity_data   jsonb not null,
  provider        text not null,
  last_sign_in_at timestamptz,
  created_at      timestamptz,
  updated_at      timestamptz,
  -- Read-only: the email inside identity_data, lower-cased.
  email           text generated always as (lower(identity_data ->> 'email')) stored,
  id              uuid not null default gen_random_uuid(),
  constraint identities_pkey primary key (id),
  constraint identities_provider_id_provider_unique unique (provider_id, provider),
  constraint identities_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade
);
comment on table auth.identities is 'Auth: Stores identities associated to a user.';
create index identities_user_id_idx on auth.identities (user_id);
create index identities_email_idx on auth.identities (email text_pattern_ops);

create table auth.sessions (
  id                     uuid not null,
  user_id                uuid not null,
  created_at             timestamptz,
  updated_at             timestamptz,
  factor_id              uuid,
  aal                    auth.aal_level,
  not_after              timestamptz,
  -- GoTrue's own choice: without time zone (UTC).
  refreshed_at           timestamp,
  user_agent             text,
  ip                     inet,
  tag                    text,
  -- GoTrue references auth.oauth_clients here; the stand-in has no OAuth server, so no such table.
  oauth_client_id        uuid,
  refresh_token_hmac_key text,
  refresh_token_counter  bigint,
  scopes                 text,
  constraint sessions_pkey primary key (id),
  constraint sessions_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  -- OAuth scopes stay a reasonable size (4 KB).
  constraint sessions_scopes_length check (char_length(scopes) <= 4096)
);
comment on table auth.sessions is 'Auth: Stores session data associated to a user.';
comment on column auth.sessions.not_after is
  'Auth: Not after is a nullable column that contains a timestamp after which the session should be '
  'regarded as expired.';
create index sessions_user_id_idx on auth.sessions (user_id);
create index user_id_created_at_idx on auth.sessions (user_id, created_at);
create index sessions_not_after_idx on auth.sessions (not_after desc);
create index sessions_oauth_client_id_idx on auth.sessions (oauth_client_id);

create table auth.refresh_tokens (
  instance_id uuid,
  id          bigserial not null,
  token       varchar(255),
  -- text, not uuid: GoTrue's original column type, never changed.
  user_id     varchar(255),
  revoked     boolean,
  created_at  timestamptz,
  updated_at  timestamptz,
  -- The token this one replaced (rotation); NULL for a session's first token.
  parent      varchar(255),
  session_id  uuid,
  constraint refresh_tokens_pkey primary key (id),
  constraint refresh_tokens_token_unique unique (token),
  constraint refresh_tokens_session_id_fkey
    foreign key (session_id) references auth.sessions (id) on delete cascade
);
comment on table auth.refresh_tokens is 'Auth: Store of tokens used to refresh JWT tokens once they expire.';
create index refresh_tokens_instance_id_idx on auth.refresh_tokens (instance_id);
create index refresh_tokens_instance_id_user_id_idx on auth.refresh_tokens (instance_id, user_id);
create index refresh_tokens_parent_idx on auth.refresh_tokens (parent);
create index refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
create index refresh_tokens_updated_at_idx on auth.refresh_tokens (updated_at desc);

alter table auth.identities owner to supabase_auth_admin;
alter table auth.sessions owner to supabase_auth_admin;
alter table auth.refresh_tokens owner to supabase_auth_admin;

-- As auth.users (30_auth.sql): RLS on with no policies, nothing for the API roles, everything for the
-- migration role (hosted: default privileges of supabase_auth_admin), SELECT with grant option.
alter table auth.identities enable row level security;
alter table auth.sessions enable row level security;
alter table auth.refresh_tokens enable row level security;
revoke all on table auth.identities, auth.sessions, auth.refresh_tokens
from public, anon, authenticated, service_role;
grant all on table auth.identities, auth.sessions, auth.refresh_tokens to postgres;
grant select on table auth.identities, auth.sessions, auth.refresh_tokens to postgres with grant option;
grant all on sequence auth.refresh_tokens_id_seq to postgres;

-- The server's database calls -------------------------------------------------------------------------

create schema auth_api authorization supabase_admin;
comment on schema auth_api is
'Local stack only: the Supabase Auth server''s database calls, for the edge app''s local /auth/v1.';
grant usage on schema auth_api to service_role;
-- The functions' owner calls its own helpers, so it needs to resolve names in the schema (not create).
grant usage on schema auth_api to supabase_auth_admin;
-- GoTrue hashes passwords in Go; here pgcrypto does it, inside these functions, as their owner.
grant usage on schema extensions to supabase_auth_admin;

-- Timestamps as GoTrue's JSON writes them (RFC 3339 in UTC), whatever the session's TimeZone.
create function auth_api.ts(at timestamptz)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.to_char(pg_catalog.timezone('UTC', at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The user as GoTrue's models.User marshals it: `omitempty` fields only when set, email and phone always
-- (as "" when unset), the identities alongside, and no secret column.
create function auth_api.user_json(u auth.users)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', u.id,
    'aud', coalesce(u.aud, ''),
    'role', coalesce(u.role, ''),
    'email', coalesce(u.email, ''),
    'phone', coalesce(u.phone, ''),
    'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
    'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
    'identities', coalesce((
      select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
        'identity_id', i.id,
        'id', i.provider_id,
        'user_id', i.user_id,
        'identity_data', i.identity_data,
        'provider', i.provider,
        'last_sign_in_at', auth_api.ts(i.last_sign_in_at),
        'created_at', auth_api.ts(i.created_at),
        'updated_at', auth_api.ts(i.updated_at),
        'email', i.email
      )) order by i.created_at)
      from auth.identities as i where i.user_id = u.id
    ), '[]'::jsonb),
    'created_at', auth_api.ts(u.created_at),
    'updated_at', auth_api.ts(u.updated_at),
    'is_anonymous', u.is_anonymous
  ) || jsonb_strip_nulls(jsonb_build_object(
    'email_confirmed_at', auth_api.ts(u.email_confirmed_at),
    'invited_at', auth_api.ts(u.invited_at),
    'phone_confirmed_at', auth_api.ts(u.phone_confirmed_at),
    'confirmation_sent_at', auth_api.ts(u.confirmation_sent_at),
    'confirmed_at', auth_api.ts(u.confirmed_at),
    'recovery_sent_at', auth_api.ts(u.recovery_sent_at),
    'new_email', nullif(u.email_change, ''),
    'email_change_sent_at', auth_api.ts(u.email_change_sent_at),
    'new_phone', nullif(u.phone_change, ''),
    'phone_change_sent_at', auth_api.ts(u.phone_change_sent_at),
    'reauthentication_sent_at', auth_api.ts(u.reauthentication_sent_at),
    'last_sign_in_at', auth_api.ts(u.last_sign_in_at),
    'banned_until', auth_api.ts(u.banned_until),
    'deleted_at', auth_api.ts(u.deleted_at)
  ))
$$;

-- A refresh token as GoTrue's first algorithm makes them (crypto.SecureAlphanumeric(12)): 12 characters
-- of [a-z0-9], drawn without modulo bias (bytes >= 252 = 7 * 36 are skipped).
create function auth_api.new_refresh_token()
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
  alphabet constant text := 'abcdefghijklmnopqrstuvwxyz0123456789';
  token text := '';
  pool bytea;
  b integer;
begin
  while pg_catalog.length(token) < 12 loop
    pool := extensions.gen_random_bytes(32);
    for i in 0 .. 31 loop
      b := pg_catalog.get_byte(pool, i);
      if b < 252 and pg_catalog.length(token) < 12 then
        token := token || pg_catalog.substr(alphabet, (b % 36) + 1, 1);
      end if;
    end loop;
  end loop;
  return token;
end
$$;

-- What every answer with a session carries: the session, its current refresh token, when the user
-- authenticated (the access token's `amr` timestamp) and the user.
create function auth_api.session_json(session_id uuid, refresh_token text, user_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'session_id', s.id,
    'refresh_token', refresh_token,
    'authenticated_at', pg_catalog.floor(extract(epoch from s.created_at))::bigint,
    'user', auth_api.user_json(u)
  )
  from auth.sessions as s
  join auth.users as u on u.id = s.user_id
  where s.id = session_json.session_id and u.id = session_json.user_id
$$;

-- A new session and its first refresh token (GoTrue: models.GrantAuthenticatedUser), which also records
-- the sign-in on the user. The client's address is kept only when it parses as one.
create function auth_api.start_session(user_id uuid, user_agent text default null, ip text default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  new_session uuid := gen_random_uuid();
  token text := auth_api.new_refresh_token();
  address inet;
begin
  begin
    address := ip::inet;
  exception when invalid_text_representation then
    address := null;
  end;
  insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
  values (new_session, start_session.user_id, pg_catalog.now(), pg_catalog.now(), 'aal1',
          nullif(start_session.user_agent, ''), address);
  insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
  values ('00000000-0000-0000-0000-000000000000', token, start_session.user_id::text, false,
          pg_catalog.now(), pg_catalog.now(), new_session);
  update auth.users set last_sign_in_at = pg_catalog.now() where id = start_session.user_id;
  return auth_api.session_json(new_session, token, start_session.user_id);
end
$$;

-- POST /signup: a confirmed email user (sign-ups are confirmed at once, as `supabase start` does with
-- enable_confirmations = false), its email identity, and a session. The gateway has already checked the
-- email's format and the password's strength (GoTrue does those before the database).
create function auth_api.sign_up(
  email text, password text, data jsonb default '{}'::jsonb, user_agent text default null, ip text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  new_user uuid := gen_random_uuid();
  address text := pg_catalog.lower(sign_up.email);
  meta jsonb := coalesce(sign_up.data, '{}'::jsonb);
begin
  if pg_catalog.jsonb_typeof(meta) <> 'object' then
    meta := '{}'::jsonb;
  end if;
  begin
    insert into auth.users (
      instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
      confirmation_token, recovery_token, email_change_token_new, email_change,
      raw_app_meta_data, raw_user_meta_data, created_at, updated_at
    ) values (
      '00000000-0000-0000-0000-000000000000', new_user, 'authenticated', 'authenticated', address,
      extensions.crypt(sign_up.password, extensions.gen_salt('bf', 10)), pg_catalog.now(),
      '', '', '', '',
      '{"provider": "email", "providers": ["email"]}'::jsonb,
      -- Confirming the email records it in the metadata (GoTrue: User.Confirm).
      meta || '{"email_verified": true}'::jsonb,
      pg_catalog.now(), pg_catalog.now()
    );
  exception when unique_violation then
    -- The partial unique index on email (non-SSO users): someone has this address already.
    raise exception using errcode = 'PT422', message = 'user_already_exists', detail = 'User already registered';
  end;
  -- The identity's data: GoTrue's claims for the email provider, then the sign-up data's other keys.
  insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
  values (
    new_user::text, new_user,
    meta || jsonb_build_object('sub', new_user::text, 'email', address, 'email_verified', false,
                               'phone_verified', false),
    'email', pg_catalog.now(), pg_catalog.now(), pg_catalog.now()
  );
  return auth_api.start_session(new_user, sign_up.user_agent, sign_up.ip);
end
$$;

-- POST /token?grant_type=password. One answer for an unknown address, a user without a password and a
-- wrong password, as GoTrue gives.
create function auth_api.password_grant(
  email text, password text, user_agent text default null, ip text default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  found_user auth.users;
begin
  select u.* into found_user from auth.users as u
  where u.email = pg_catalog.lower(password_grant.email) and not u.is_sso_user and u.aud = 'authenticated';
  if found_user.id is null
     or coalesce(found_user.encrypted_password, '') = ''
     or extensions.crypt(password_grant.password, found_user.encrypted_password)
        <> found_user.encrypted_password then
    raise exception using errcode = 'PT400', message = 'invalid_credentials', detail = 'Invalid login credentials';
  end if;
  if found_user.banned_until > pg_catalog.now() then
    raise exception using errcode = 'PT400', message = 'user_banned', detail = 'User is banned';
  end if;
  if found_user.email_confirmed_at is null then
    raise exception using errcode = 'PT400', message = 'email_not_confirmed', detail = 'Email not confirmed';
  end if;
  return auth_api.start_session(found_user.id, password_grant.user_agent, password_grant.ip);
end
$$;

-- POST /token?grant_type=refresh_token (GoTrue: tokens.Service.RefreshTokenGrant, first algorithm).
-- Rotation: each use revokes the token and issues its child in the same session. A revoked token is
--   * the parent of the session's active token: the client lost the answer to its last refresh, so the
--     active token is returned again (nothing new is issued);
--   * otherwise, within `reuse_interval` seconds of its revocation (concurrent tabs): a new child;
--   * otherwise, reuse: every token of the session is revoked and `refresh_token_already_used` answered.
--     That revocation must be committed, so this one error is returned as data ({"error", "message"})
--     instead of raised (a raise would roll it back); the gateway answers it as an error.
-- The token row and its session are locked, so concurrent refreshes of one token serialize.
create function auth_api.refresh_token_grant(
  refresh_token text, reuse_interval integer default 10, now timestamptz default pg_catalog.now()
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  token auth.refresh_tokens;
  active auth.refresh_tokens;
  found_session auth.sessions;
  found_user auth.users;
  issued text;
begin
  select t.* into token from auth.refresh_tokens as t where t.token = refresh_token_grant.refresh_token
  for update;
  if token.id is null then
    raise exception using errcode = 'PT400', message = 'refresh_token_not_found',
      detail = 'Invalid Refresh Token: Refresh Token Not Found';
  end if;
  select u.* into found_user from auth.users as u where u.id::text = token.user_id;
  if found_user.id is null then
    raise exception using errcode = 'PT400', message = 'refresh_token_not_found',
      detail = 'Invalid Refresh Token: Refresh Token Not Found';
  end if;
  if found_user.banned_until > refresh_token_grant.now then
    raise exception using errcode = 'PT400', message = 'user_banned', detail = 'Invalid Refresh Token: User Banned';
  end if;
  select s.* into found_session from auth.sessions as s where s.id = token.session_id for update;
  if found_session.id is null then
    raise exception using errcode = 'PT400', message = 'session_not_found',
      detail = 'Invalid Refresh Token: No Valid Session Found';
  end if;
  if found_session.not_after is not null and refresh_token_grant.now > found_session.not_after then
    raise exception using errcode = 'PT400', message = 'session_expired',
      detail = 'Invalid Refresh Token: Session Expired';
  end if;

  if token.revoked then
    select t.* into active from auth.refresh_tokens as t
    where t.session_id = found_session.id and t.revoked is false
    order by t.id desc
    limit 1;
    if active.id is not null and active.parent = token.token then
      issued := active.token;
    elsif refresh_token_grant.now > token.updated_at + pg_catalog.make_interval(secs => reuse_interval) then
      update auth.refresh_tokens set revoked = true, updated_at = refresh_token_grant.now
      where session_id = found_session.id and revoked is false;
      return jsonb_build_object(
        'error', 'refresh_token_already_used', 'message', 'Invalid Refresh Token: Already Used'
      );
    end if;
  end if;

  if issued is null then
    update auth.refresh_tokens set revoked = true, updated_at = refresh_token_grant.now where id = token.id;
    issued := auth_api.new_refresh_token();
    insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
    values ('00000000-0000-0000-0000-000000000000', issued, token.user_id, false,
            refresh_token_grant.now, refresh_token_grant.now, token.token, found_session.id);
    update auth.users set last_sign_in_at = refresh_token_grant.now where id = found_user.id;
  end if;
  update auth.sessions
  set refreshed_at = pg_catalog.timezone('UTC', refresh_token_grant.now),
      updated_at = refresh_token_grant.now
  where id = found_session.id;
  return auth_api.session_json(found_session.id, issued, found_user.id);
end
$$;

-- Who an access token names (GoTrue: requireAuthentication): the user from `sub`, and the session from
-- `session_id` when the token has one. A signed-out session no longer authenticates.
create function auth_api.token_user(user_id uuid, session_id uuid)
returns auth.users
language plpgsql
stable
set search_path = ''
as $$
declare
  found_user auth.users;
begin
  select u.* into found_user from auth.users as u where u.id = token_user.user_id;
  if found_user.id is null then
    raise exception using errcode = 'PT403', message = 'user_not_found',
      detail = 'User from sub claim in JWT does not exist';
  end if;
  if token_user.session_id is not null
     and not exists (select 1 from auth.sessions as s where s.id = token_user.session_id) then
    raise exception using errcode = 'PT403', message = 'session_not_found',
      detail = 'Session from session_id claim in JWT does not exist';
  end if;
  return found_user;
end
$$;

-- GET /user
create function auth_api.get_user(user_id uuid, session_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select auth_api.user_json(auth_api.token_user(get_user.user_id, get_user.session_id))
$$;

-- PUT /user: a new password and/or user metadata. Metadata merges key by key, a null value removing its
-- key (GoTrue: User.UpdateUserMetaData). A new password must differ from the old one, and ends every
-- other session of the user (GoTrue: User.UpdatePassword). Email and phone changes need GoTrue's mailer
-- and SMS flows, which the gateway refuses before calling this.
create function auth_api.update_user(
  user_id uuid, session_id uuid default null, password text default null, data jsonb default null
)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  found_user auth.users := auth_api.token_user(update_user.user_id, update_user.session_id);
begin
  perform 1 from auth.users as u where u.id = found_user.id for update;
  if update_user.password is not null then
    if coalesce(found_user.encrypted_password, '') <> ''
       and extensions.crypt(update_user.password, found_user.encrypted_password)
           = found_user.encrypted_password then
      raise exception using errcode = 'PT422', message = 'same_password',
        detail = 'New password should be different from the old password.';
    end if;
    update auth.users
    set encrypted_password = extensions.crypt(update_user.password, extensions.gen_salt('bf', 10)),
        confirmation_token = '', confirmation_sent_at = null, recovery_token = '', recovery_sent_at = null,
        email_change_token_current = '', email_change_token_new = '', email_change_sent_at = null,
        phone_change_token = '', phone_change_sent_at = null,
        reauthentication_token = '', reauthentication_sent_at = null
    where id = found_user.id;
    delete from auth.sessions as s
    where s.user_id = found_user.id and s.id is distinct from update_user.session_id;
  end if;
  if pg_catalog.jsonb_typeof(update_user.data) = 'object' then
    update auth.users
    set raw_user_meta_data = (
      coalesce(raw_user_meta_data, '{}'::jsonb)
      - coalesce((select array_agg(d.key) from jsonb_each(update_user.data) as d where d.value = 'null'::jsonb),
                 '{}'::text[])
    ) || coalesce((select jsonb_object_agg(d.key, d.value) from jsonb_each(update_user.data) as d
                   where d.value <> 'null'::jsonb), '{}'::jsonb)
    where id = found_user.id;
  end if;
  update auth.users set updated_at = pg_catalog.now() where id = found_user.id;
  return auth_api.user_json((select u from auth.users as u where u.id = found_user.id));
end
$$;

-- POST /logout?scope=global|local|others: end the user's sessions (their refresh tokens go with them).
create function auth_api.logout(user_id uuid, session_id uuid default null, scope text default 'global')
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  found_user auth.users := auth_api.token_user(logout.user_id, logout.session_id);
begin
  if logout.scope = 'local' and logout.session_id is not null then
    delete from auth.sessions as s where s.id = logout.session_id;
  elsif logout.scope = 'others' then
    delete from auth.sessions as s where s.user_id = found_user.id and s.id is distinct from logout.session_id;
  else
    delete from auth.sessions as s where s.user_id = found_user.id;
  end if;
end
$$;

-- Ownership and privileges: GoTrue's role owns everything; the service role may call the endpoints'
-- functions, nobody else anything (the helpers run only inside them, as their owner).
alter function auth_api.ts(timestamptz) owner to supabase_auth_admin;
alter function auth_api.user_json(auth.users) owner to supabase_auth_admin;
alter function auth_api.new_refresh_token() owner to supabase_auth_admin;
alter function auth_api.session_json(uuid, text, uuid) owner to supabase_auth_admin;
alter function auth_api.start_session(uuid, text, text) owner to supabase_auth_admin;
alter function auth_api.sign_up(text, text, jsonb, text, text) owner to supabase_auth_admin;
alter function auth_api.password_grant(text, text, text, text) owner to supabase_auth_admin;
alter function auth_api.refresh_token_grant(text, integer, timestamptz) owner to supabase_auth_admin;
alter function auth_api.token_user(uuid, uuid) owner to supabase_auth_admin;
alter function auth_api.get_user(uuid, uuid) owner to supabase_auth_admin;
alter function auth_api.update_user(uuid, uuid, text, jsonb) owner to supabase_auth_admin;
alter function auth_api.logout(uuid, uuid, text) owner to supabase_auth_admin;

revoke execute on all functions in schema auth_api from public;
grant execute on function
  auth_api.sign_up(text, text, jsonb, text, text),
  auth_api.password_grant(text, text, text, text),
  auth_api.refresh_token_grant(text, integer, timestamptz),
  auth_api.get_user(uuid, uuid),
  auth_api.update_user(uuid, uuid, text, jsonb),
  auth_api.logout(uuid, uuid, text)
to service_role;
