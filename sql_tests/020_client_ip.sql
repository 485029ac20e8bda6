-- Client IP settings and the helpers the per-IP forms use: private.request_client_ip() (which entry of which
-- header to trust), private.hash_ip() (salted SHA-256, the salt in private.ip_hash_salt) and
-- private.normalize_email(). Headers are set the way PostgREST sets them: request.headers as JSON with
-- lower-case names. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(64);

-- Settings -------------------------------------------------------------------------------------------------
select results_eq(
  $$ select s.client_ip_header, s.client_ip_trusted_hops, s.waitlist_limit, s.waitlist_window_seconds,
       s.contact_limit, s.contact_window_seconds
     from private.settings as s $$,
  $$ values ('x-forwarded-for', 1, 5, 3600, 5, 3600) $$,
  'defaults: X-Forwarded-For with one trusted hop, 5 sign-ups and 5 messages an hour'
);
select results_eq(
  $$ select count(*), min(octet_length(s.salt)) from private.ip_hash_salt as s $$,
  $$ values (1::bigint, 32) $$,
  'one 32-byte salt, in a table of its own'
);
select col_default_is(
  'private', 'settings', 'client_ip_trusted_hops', '1', 'the default trusts one proxy (the API gateway)'
);
select throws_ok(
  $$ update private.settings set client_ip_header = 'X-Forwarded-For' $$, '23514', null,
  'the header name is lower-case, as PostgREST stores it'
);
select throws_ok(
  $$ update private.settings set client_ip_header = 'x forwarded for' $$, '23514', null,
  'the header name is a header name'
);
select throws_ok(
  $$ update private.settings set client_ip_trusted_hops = 0 $$, '23514', null,
  'at least the closest proxy is trusted'
);
select throws_ok(
  $$ update private.settings set client_ip_trusted_hops = 11 $$, '23514', null,
  'more than ten trusted proxies is a misconfiguration'
);
select throws_ok(
  $$ update private.settings set waitlist_limit = 0 $$, '23514', null, 'the waitlist limit is positive'
);
select throws_ok(
  $$ update private.settings set contact_window_seconds = 0 $$, '23514', null,
  'the contact window is positive'
);

-- Privileges -----------------------------------------------------------------------------------------------
-- join_waitlist reaches all three through its definer half, which needs no grant to its callers; the
-- contact form's public.record_contact_submission is invoker and runs as service_role (hash_ip and
-- normalize_email). Nothing that runs as an API role calls request_client_ip.
-- The salt: readable by no API role, and no longer part of the settings row the service RPCs read.
select hasnt_column(
  'private', 'settings', 'ip_hash_salt',
  'the settings row (service_role reads it, current_settings() returns it) holds no salt'
);
select tests.rls_enabled('private', 'ip_hash_salt');
select is_definer(
  'private', 'request_client_ip', array[]::text[], 'request_client_ip reads the settings as their owner'
);
select is_definer('private', 'hash_ip', array['text'], 'hash_ip reads the salt as its owner');
select isnt_definer('private', 'normalize_email', array['text'], 'normalize_email needs no privileges');
select volatility_is(
  'private', 'normalize_email', array['text'], 'immutable', 'normalize_email is immutable'
);

-- request_client_ip: X-Forwarded-For, one trusted hop --------------------------------------------------
select is(private.request_client_ip(), null, 'no request.headers at all: unknown');
set local "request.headers" = '';
select is(private.request_client_ip(), null, 'empty request.headers: unknown');
set local "request.headers" = '{"user-agent": "curl"}';
select is(private.request_client_ip(), null, 'no X-Forwarded-For: unknown');
set local "request.headers" = '{"x-forwarded-for": "203.0.113.9"}';
select is(private.request_client_ip(), '203.0.113.9', 'a single entry is the client');
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 203.0.113.9"}';
select is(
  private.request_client_ip(), '203.0.113.9',
  'the RIGHTMOST entry (appended by the trusted proxy) wins; a forged leftmost entry is ignored'
);
set local "request.headers" = '{"x-forwarded-for": "10.0.0.1,6.6.6.6 ,  203.0.113.9  "}';
select is(private.request_client_ip(), '203.0.113.9', 'blanks around entries are ignored');
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 2001:DB8::1"}';
select is(private.request_client_ip(), '2001:db8::1', 'an IPv6 entry works, in its canonical form');
set local "request.headers" = '{"x-forwarded-for": "203.0.113.9, not-an-ip"}';
select is(
  private.request_client_ip(), null,
  'garbage in the trusted position: unknown (not the forged entry left of it)'
);
set local "request.headers" = '{"x-forwarded-for": "not-an-ip"}';
select is(private.request_client_ip(), null, 'garbage: unknown');
set local "request.headers" = '{"x-forwarded-for": "   "}';
select is(private.request_client_ip(), null, 'a blank header: unknown');
set local "request.headers" = '{"x-forwarded-for": "203.0.113.9, "}';
select is(private.request_client_ip(), null, 'an empty trusted entry: unknown');
set local "request.headers" = '{"x-forwarded-for": "999.1.1.1"}';
select is(private.request_client_ip(), null, 'an out-of-range address: unknown');
set local "request.headers" = '{"x-forwarded-for": "203.0.113.9; drop table x"}';
select is(private.request_client_ip(), null, 'an address with trailing junk: unknown');

-- Two trusted hops -----------------------------------------------------------------------------------------
update private.settings set client_ip_trusted_hops = 2;
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 198.51.100.4, 10.0.0.2"}';
select is(
  private.request_client_ip(), '198.51.100.4', 'with 2 hops the client is the second entry from the right'
);
set local "request.headers" = '{"x-forwarded-for": "198.51.100.4, 10.0.0.2"}';
select is(private.request_client_ip(), '198.51.100.4', 'exactly 2 entries with 2 hops: the leftmost');
set local "request.headers" = '{"x-forwarded-for": "10.0.0.2"}';
select is(private.request_client_ip(), null, 'a chain shorter than the trusted hops: unknown');
update private.settings set client_ip_trusted_hops = 3;
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 198.51.100.4, 10.0.0.2"}';
select is(private.request_client_ip(), '6.6.6.6', 'with 3 hops the third from the right');
set local "request.headers" = '{"x-forwarded-for": "198.51.100.4, 10.0.0.2"}';
select is(private.request_client_ip(), null, 'two entries with 3 hops: unknown');

-- Another header (Cloudflare) --------------------------------------------------------------------------
update private.settings set client_ip_header = 'cf-connecting-ip', client_ip_trusted_hops = 1;
set local "request.headers" = '{"cf-connecting-ip": "198.51.100.77", "x-forwarded-for": "6.6.6.6, 10.0.0.9"}';
select is(private.request_client_ip(), '198.51.100.77', 'the configured header is read');
set local "request.headers" = '{"x-forwarded-for": "203.0.113.9"}';
select is(
  private.request_client_ip(), null, 'with another header configured, X-Forwarded-For is not used at all'
);
set local "request.headers" = '{"cf-connecting-ip": "garbage"}';
select is(private.request_client_ip(), null, 'garbage in the configured header: unknown');
update private.settings set client_ip_header = 'x-forwarded-for';

-- Inside an API role's request (as join_waitlist's definer half runs it) -----------------------------------
set local "request.headers" = '{"x-forwarded-for": "6.6.6.6, 203.0.113.9"}';
select tests.authenticate_as_anon();
select throws_ok(
  $$ select private.request_client_ip() $$, '42501', null, 'anon cannot call request_client_ip directly'
);
set local role postgres;
select is(private.request_client_ip(), '203.0.113.9', 'inside an anon request the answer is the same');
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select s.salt from private.ip_hash_salt as s $$, '42501', null, 'service_role cannot read the salt'
);
select is(
  octet_length(private.hash_ip('203.0.113.9')), 32, 'service_role can hash an IP (the contact form does)'
);
select tests.clear_authentication();

-- hash_ip ---------------------------------------------------------------------------------------------------
select is(private.hash_ip(null), null, 'no IP, no hash');
select is(octet_length(private.hash_ip('203.0.113.9')), 32, 'a hash is a 32-byte SHA-256');
select is(
  private.hash_ip('203.0.113.9'), private.hash_ip('203.0.113.9'), 'the same IP gives the same hash'
);
select isnt(
  private.hash_ip('203.0.113.9'), private.hash_ip('203.0.113.10'), 'another IP gives another hash'
);
select isnt(
  private.hash_ip('203.0.113.9'), sha256(convert_to('203.0.113.9', 'UTF8')),
  'the hash is salted: not the plain SHA-256 of the IP'
);
select is(
  private.hash_ip('203.0.113.9'),
  sha256((select s.salt from private.ip_hash_salt as s) || convert_to('203.0.113.9', 'UTF8')),
  'the hash is SHA-256 over the install''s salt and the IP'
);
create temporary table old_hash on commit drop as select private.hash_ip('203.0.113.9') as h;
update private.ip_hash_salt set salt = gen_random_bytes(32);
select isnt(
  private.hash_ip('203.0.113.9'), (select o.h from old_hash as o), 'a new salt gives new hashes'
);
select ok(
  (
    select pg_get_expr(d.adbin, d.adrelid) from pg_catalog.pg_attrdef as d
    inner join pg_catalog.pg_attribute as a on d.adrelid = a.attrelid and d.adnum = a.attnum
    where d.adrelid = 'private.ip_hash_salt'::regclass and a.attname = 'salt'
  ) like '%gen_random_bytes(32)',
  'each install draws its own random 32-byte salt (the column default)'
);
select throws_ok(
  $$ update private.ip_hash_salt set salt = gen_random_bytes(8) $$, '23514', null,
  'a salt has at least 16 bytes'
);
select throws_ok(
  $$ insert into private.ip_hash_salt (id) values (true) $$, '23505', null, 'there is one salt'
);

-- normalize_email ------------------------------------------------------------------------------------------
select is(
  private.normalize_email('  Alice.Liddell+news@Example.COM '), 'alice.liddell+news@example.com',
  'an address is trimmed and lower-cased'
);
select is(
  private.normalize_email(repeat('a', 64) || '@' || repeat('b', 185) || '.com'),
  repeat('a', 64) || '@' || repeat('b', 185) || '.com', 'a 254-character address is accepted'
);
select throws_ok(
  $$ select private.normalize_email(repeat('a', 64) || '@' || repeat('b', 186) || '.com') $$,
  'PT400', 'invalid_email', 'a 255-character address is refused'
);
select throws_ok(
  $$ select private.normalize_email(null) $$, 'PT400', 'invalid_email', 'no address is refused'
);
select throws_ok(
  $$ select private.normalize_email('') $$, 'PT400', 'invalid_email', 'an empty address is refused'
);
select throws_ok(
  $$ select private.normalize_email('alice.example.com') $$, 'PT400', 'invalid_email',
  'an address without @ is refused'
);
select throws_ok(
  $$ select private.normalize_email('alice@example') $$, 'PT400', 'invalid_email',
  'an address without a dot in the domain is refused'
);
select throws_ok(
  $$ select private.normalize_email('a@b.com c@d.com') $$, 'PT400', 'invalid_email',
  'two addresses separated by a space are refused'
);
select throws_ok(
  $$ select private.normalize_email('a@b.com,c@d.com') $$, 'PT400', 'invalid_email',
  'two addresses separated by a comma are refused'
);
select throws_ok(
  $$ select private.normalize_email('a@b.com;c@d.com') $$, 'PT400', 'invalid_email',
  'two addresses separated by a semicolon are refused'
);
select throws_ok(
  $$ select private.normalize_email('a@b@d.com') $$, 'PT400', 'invalid_email', 'two @ are refused'
);
select throws_ok(
  $$ select private.normalize_email(E'a@b.com\r\nBcc: c@d.com') $$, 'PT400', 'invalid_email',
  'header injection (CR LF) is refused'
);
select throws_ok(
  $$ select private.normalize_email(E'a\u0007b@c.com') $$, 'PT400', 'invalid_email',
  'control characters are refused'
);
select throws_ok(
  $$ select private.normalize_email('Alice <a@b.com>') $$, 'PT400', 'invalid_email',
  'a display name with angle brackets is refused'
);

select * from finish();
rollback;
