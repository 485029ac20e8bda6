-- public.waitlist and join_waitlist(): anyone may join once (a repeat is not an error), addresses are
-- normalized, sign-ups are rate-limited per client IP (the trusted entry of the configured header), and only
-- a salted hash of the IP is stored. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(50);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from public.waitlist;
delete from private.rate_limit_buckets;

do $$
begin
  perform tests.create_supabase_user('wl-alice');
  perform tests.create_supabase_user('wl-admin');
end
$$;
update public.user_roles set role = 'admin'
where user_id = tests.get_supabase_uid('wl-admin');

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('public', 'waitlist', 'public.waitlist exists');
select tests.rls_enabled('public', 'waitlist');
select policies_are('public', 'waitlist', array[]::text[], 'no policy: no API role reads the waitlist');
select columns_are(
  'public', 'waitlist', array['id', 'email', 'source', 'ip_hash', 'created_at'],
  'the waitlist holds a hash of the IP, never the IP'
);
select is(
  (
    select a.atttypid::regtype from pg_catalog.pg_attribute as a
    where a.attrelid = 'public.waitlist'::regclass and a.attname = 'email'
  ),
  'extensions.citext'::regtype,
  'email is citext (unique whatever the case)'
);
select col_type_is('public', 'waitlist', 'ip_hash', 'bytea', 'the IP hash is bytes');
select col_is_unique('public', 'waitlist', array['email'], 'an address is on the list once');

select isnt_definer('public', 'join_waitlist', array['text', 'text'], 'public.join_waitlist is invoker');
select is_definer('private', 'join_waitlist', array['text', 'text'], 'private.join_waitlist is definer');

-- Joining as anon ------------------------------------------------------------------------------------------
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 203.0.113.10"}';
select tests.authenticate_as_anon();
select is(
  public.join_waitlist('  Alice@Example.COM ', 'landing'), 'joined', 'anon joins: joined'
);
select is(
  public.join_waitlist('alice@example.com', 'landing'), 'already_joined',
  'the same address again: already_joined, not an error'
);
select is(
  public.join_waitlist(' ALICE@EXAMPLE.COM', 'footer'), 'already_joined',
  'in another case and with blanks: already_joined'
);
select throws_ok($$ select 1 from public.waitlist $$, '42501', null, 'anon cannot read the waitlist');
select throws_ok(
  $$ insert into public.waitlist (email) values ('x@example.com') $$, '42501', null,
  'anon cannot insert directly'
);
select tests.clear_authentication();

select results_eq(
  $$ select w.email::text, w.source, w.created_at from public.waitlist as w $$,
  $$ values ('alice@example.com', 'landing', now()) $$,
  'one row, normalized, with the source of the first join'
);
select results_eq(
  $$ select w.ip_hash = private.hash_ip('203.0.113.10'), w.ip_hash = private.hash_ip('6.6.6.6'),
       octet_length(w.ip_hash)
     from public.waitlist as w where w.email = 'alice@example.com' $$,
  $$ values (true, false, 32) $$,
  'the stored hash is of the trusted (rightmost) IP, not the forged one, and is 32 bytes'
);
select is_empty(
  $$ select 1 from public.waitlist as w
     where w.ip_hash = sha256(convert_to('203.0.113.10', 'UTF8'))
        or position(convert_to('203.0.113.10', 'UTF8') in w.ip_hash) > 0
        or encode(w.ip_hash, 'escape') like '%203.0.113%' $$,
  'the row holds neither the IP nor its unsalted hash'
);

-- Joining as a signed-in user ----------------------------------------------------------------------------
set local "request.headers" = '{"x-forwarded-for": "203.0.113.12"}';
select tests.authenticate_as('wl-alice');
select is(public.join_waitlist('bob@example.com'), 'joined', 'a signed-in user may join too');
select is(public.join_waitlist('carol@example.com', ''), 'joined', 'an empty source is fine');
select is(public.join_waitlist('dave@example.com', repeat('s', 100)), 'joined', 'a long source is fine');
select throws_ok($$ select 1 from public.waitlist $$, '42501', null, 'a user cannot read the waitlist');
select tests.authenticate_as('wl-admin');
select throws_ok(
  $$ select 1 from public.waitlist $$, '42501', null, 'an admin cannot read it through the API either'
);
select tests.clear_authentication();
select results_eq(
  $$ select w.email::text, w.source from public.waitlist as w
     where w.email in ('bob@example.com', 'carol@example.com') order by w.email $$,
  $$ values ('bob@example.com', 'web'), ('carol@example.com', 'web') $$,
  'no source, or an empty one, is stored as web'
);
select results_eq(
  $$ select w.source from public.waitlist as w where w.email = 'dave@example.com' $$,
  $$ values (repeat('s', 64)) $$,
  'a source is cut to 64 characters'
);

-- Invalid addresses: PT400 invalid_email ---------------------------------------------------------------
-- A fresh IP for these, so the limit above does not interfere.
set local "request.headers" = '{"x-forwarded-for": "203.0.113.11"}';
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.join_waitlist('') $$, 'PT400', 'invalid_email', 'an empty address'
);
select throws_ok(
  $$ select public.join_waitlist(null) $$, 'PT400', 'invalid_email', 'no address'
);
select throws_ok(
  $$ select public.join_waitlist('alice.example.com') $$, 'PT400', 'invalid_email', 'no @'
);
select throws_ok(
  $$ select public.join_waitlist('a@example.com, b@example.com') $$, 'PT400', 'invalid_email',
  'two addresses'
);
select throws_ok(
  $$ select public.join_waitlist('a@example.com b@example.com') $$, 'PT400', 'invalid_email',
  'two addresses separated by a blank'
);
select throws_ok(
  $$ select public.join_waitlist(E'a@example.com\r\nBcc: b@example.com') $$, 'PT400', 'invalid_email',
  'control characters (header injection)'
);
select throws_ok(
  $$ select public.join_waitlist(repeat('a', 64) || '@' || repeat('b', 186) || '.com') $$,
  'PT400', 'invalid_email', 'longer than 254 characters'
);
select tests.clear_authentication();
select set_eq(
  $$ select w.email::text from public.waitlist as w $$,
  $$ values ('alice@example.com'), ('bob@example.com'), ('carol@example.com'), ('dave@example.com') $$,
  'nothing invalid was stored'
);

-- Rate limit per client IP ---------------------------------------------------------------------------
update private.settings set waitlist_limit = 3;
create temporary table refusal (sqlstate text, message text, detail text, hint text) on commit drop;
grant insert, select on refusal to anon;

set local "request.headers" = '{"x-forwarded-for": "198.51.100.20"}';
select tests.authenticate_as_anon();
select is(public.join_waitlist('rl1@example.com'), 'joined', 'first sign-up from an IP');
select is(public.join_waitlist('rl2@example.com'), 'joined', 'second sign-up from that IP');
select is(
  public.join_waitlist('rl1@example.com'), 'already_joined', 'a repeat counts too (third call)'
);
select throws_ok(
  $$ select public.join_waitlist('rl3@example.com') $$, 'PGRST', null,
  'past settings.waitlist_limit calls from one IP: refused (an HTTP 429 PostgREST answers with headers)'
);
do $$
declare
  err_state text;
  err_message text;
  err_detail text;
  err_hint text;
begin
  perform public.join_waitlist('rl4@example.com');
exception when others then
  get stacked diagnostics err_state = returned_sqlstate, err_message = message_text,
    err_detail = pg_exception_detail, err_hint = pg_exception_hint;
  insert into pg_temp.refusal values (err_state, err_message, err_detail, err_hint);
end
$$;
select results_eq(
  $$ select r.sqlstate, r.message::jsonb ->> 'code',
       ((r.message::jsonb ->> 'details')::jsonb ->> 'retry_after_seconds')::integer > 0,
       (r.detail::jsonb ->> 'status')::integer,
       (r.detail::jsonb -> 'headers' ->> 'Retry-After')::integer > 0,
       r.detail::jsonb -> 'headers' ->> 'X-RateLimit-Remaining'
     from pg_temp.refusal as r $$,
  $$ values ('PGRST', 'rate_limited', true, 429, true, '0') $$,
  'the refusal is PostgREST''s custom error: 429 with Retry-After, and the data as JSON in details'
);
-- The same address from behind a forged X-Forwarded-For entry is still the same client.
set local "request.headers" = '{"x-forwarded-for": "1.2.3.4, 198.51.100.20"}';
select throws_ok(
  $$ select public.join_waitlist('rl5@example.com') $$, 'PGRST', null,
  'forging a leftmost entry does not escape the limit'
);
set local "request.headers" = '{"x-forwarded-for": "198.51.100.21"}';
select is(public.join_waitlist('rl5@example.com'), 'joined', 'another IP still works');
select tests.authenticate_as('wl-alice');
set local "request.headers" = '{"x-forwarded-for": "198.51.100.20"}';
select throws_ok(
  $$ select public.join_waitlist('rl6@example.com') $$, 'PGRST', null,
  'the limit is per IP, whoever is signed in'
);
select tests.clear_authentication();
select results_eq(
  $$ select w.email::text from public.waitlist as w where w.email like 'rl%' order by w.email $$,
  $$ values ('rl1@example.com'), ('rl2@example.com'), ('rl5@example.com') $$,
  'refused sign-ups stored nothing'
);
select results_eq(
  $$ select b.hits from private.rate_limit_buckets as b
     where b.namespace = 'waitlist' and b.subject_hash = sha256(convert_to('198.51.100.20', 'UTF8')) $$,
  $$ values (3) $$,
  'the per-IP bucket counted the allowed calls (refusals are rolled back with their request)'
);

-- A higher limit applies at once.
update private.settings set waitlist_limit = 10;
select tests.authenticate_as_anon();
select is(public.join_waitlist('rl6@example.com'), 'joined', 'raising the setting lets that IP in again');

-- No usable client IP: one shared bucket, no hash stored.
set local "request.headers" = '{"x-forwarded-for": "garbage"}';
select is(public.join_waitlist('noip@example.com'), 'joined', 'an unknown IP may still join');
select tests.clear_authentication();
select results_eq(
  $$ select w.ip_hash is null from public.waitlist as w where w.email = 'noip@example.com' $$,
  $$ values (true) $$,
  'without a client IP no hash is stored'
);

-- service_role --------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select count(*) from public.waitlist as w where w.email in ('alice@example.com', 'bob@example.com') $$,
  $$ values (2::bigint) $$,
  'service_role reads the waitlist'
);
select throws_ok(
  $$ select public.join_waitlist('svc@example.com') $$, '42501', null,
  'service_role does not call join_waitlist'
);
select lives_ok(
  $$ delete from public.waitlist where email = 'bob@example.com' $$, 'service_role may remove an entry'
);
select tests.clear_authentication();

select throws_ok(
  $$ insert into public.waitlist (email, source) values ('x@example.com', '') $$, '23514', null,
  'a source is 1-64 characters'
);
select throws_ok(
  $$ insert into public.waitlist (email) values ('ALICE@example.com') $$, '23505', null,
  'the unique index ignores case'
);

select * from finish();
rollback;
