-- Per-IP rate-limit subjects (20261204000300): private.rate_limit_ip_subject() turns a client IP into the
-- bucket it is limited in — an IPv4 address as it is, an IPv6 address as its /64 (one /64 is one home,
-- phone or VM: per address it would hand out 2^64 buckets), an IPv4-mapped IPv6 address as the IPv4 —
-- and both per-IP limiters (join_waitlist, record_contact_submission) use it. The stored ip_hash stays
-- per address. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(34);

-- Counts below are this file's own buckets and rows.
delete from private.rate_limit_buckets;
delete from public.waitlist;
delete from private.contact_submissions;

-- Shape and privileges -----------------------------------------------------------------------------------
select has_function('private', 'rate_limit_ip_subject', array['text'], 'rate_limit_ip_subject exists');
select volatility_is(
  'private', 'rate_limit_ip_subject', array['text'], 'immutable', 'the subject depends on the address only'
);
select isnt_definer(
  'private', 'rate_limit_ip_subject', array['text'], 'rate_limit_ip_subject needs no privileges'
);
select is(
  (
    select p.proconfig from pg_catalog.pg_proc as p
    where p.oid = 'private.rate_limit_ip_subject(text)'::regprocedure
  ),
  array['search_path=""'], 'rate_limit_ip_subject pins an empty search_path'
);

-- The subjects --------------------------------------------------------------------------------------------
select is(private.rate_limit_ip_subject(null), null, 'no IP: no subject (the caller uses unknown-ip)');
select is(private.rate_limit_ip_subject('  '), null, 'a blank IP: no subject');
select is(private.rate_limit_ip_subject('not-an-ip'), null, 'garbage: no subject');
select is(private.rate_limit_ip_subject('999.1.1.1'), null, 'an out-of-range address: no subject');
select is(private.rate_limit_ip_subject('203.0.113.9'), '203.0.113.9', 'IPv4: the address itself');
select is(private.rate_limit_ip_subject(' 203.0.113.9 '), '203.0.113.9', 'blanks around it are ignored');
select is(
  private.rate_limit_ip_subject('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64', 'IPv6: its /64'
);
select is(
  private.rate_limit_ip_subject('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64',
  'another address of the same /64 (any case): the same subject'
);
select is(
  private.rate_limit_ip_subject('2001:db8:1:3::1'), '2001:db8:1:3::/64', 'the next /64: another subject'
);
select is(private.rate_limit_ip_subject('::1'), '::/64', 'IPv6 loopback: its /64');
select is(
  private.rate_limit_ip_subject('::ffff:203.0.113.9'), '203.0.113.9',
  'IPv4-mapped IPv6 (a dual-stack socket): the IPv4 address it carries'
);
select is(
  private.rate_limit_ip_subject('::FFFF:CB00:7109'), '203.0.113.9', 'the same mapped address in hex'
);

-- The waitlist (anon, X-Forwarded-For with one trusted hop) -------------------------------------------
update private.settings set waitlist_limit = 2;
select tests.authenticate_as_anon();
set local "request.headers" = '{"x-forwarded-for": "2001:db8:aa:bb::1"}';
select is(public.join_waitlist('v6-a@example.com'), 'joined', 'a first address of a /64 joins');
set local "request.headers" = '{"x-forwarded-for": "2001:db8:aa:bb:ffff:1:2:3"}';
select is(public.join_waitlist('v6-b@example.com'), 'joined', 'a second address of the same /64 joins');
set local "request.headers" = '{"x-forwarded-for": "2001:db8:aa:bb::3"}';
select throws_ok(
  $$ select public.join_waitlist('v6-c@example.com') $$, 'PGRST', null,
  'a third address of the same /64 is over the limit: the /64 is one bucket'
);
set local "request.headers" = '{"x-forwarded-for": "2001:db8:aa:bc::1"}';
select is(public.join_waitlist('v6-d@example.com'), 'joined', 'the neighbouring /64 has a bucket of its own');
set local "request.headers" = '{"x-forwarded-for": "198.51.100.30"}';
select is(public.join_waitlist('v4-a@example.com'), 'joined', 'an IPv4 client joins');
set local "request.headers" = '{"x-forwarded-for": "::ffff:198.51.100.30"}';
select is(public.join_waitlist('v4-b@example.com'), 'joined', 'the same client, IPv4-mapped, joins');
set local "request.headers" = '{"x-forwarded-for": "198.51.100.30"}';
select throws_ok(
  $$ select public.join_waitlist('v4-c@example.com') $$, 'PGRST', null,
  'an IPv4 address and its IPv4-mapped form share one bucket'
);
set local "request.headers" = '{"x-forwarded-for": "198.51.100.31"}';
select is(public.join_waitlist('v4-d@example.com'), 'joined', 'IPv4 stays per address');
select tests.clear_authentication();

select is(
  (
    select count(*) from private.rate_limit_buckets as b
    where b.namespace = 'waitlist' and b.subject_hash = sha256(convert_to('2001:db8:aa:bb::/64', 'UTF8'))
  ),
  1::bigint,
  'the bucket is keyed by the /64 as text (what `thinbase ratelimit show waitlist 2001:db8:aa:bb::/64` finds)'
);
select results_eq(
  $$ select w.ip_hash from public.waitlist as w where w.email in ('v6-a@example.com', 'v6-b@example.com')
     order by w.email $$,
  $$ values (private.hash_ip('2001:db8:aa:bb::1')), (private.hash_ip('2001:db8:aa:bb:ffff:1:2:3')) $$,
  'the stored hash is still per address, not per /64'
);

-- The contact form (the edge app passes the client IP; service role) ----------------------------------
update private.settings set contact_limit = 2;
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'one', '2001:db8:cc:dd::1') $$,
  'a first message from a /64'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'two', '2001:db8:cc:dd:9::9') $$,
  'a second message from another address of the same /64'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'three', '2001:db8:cc:dd::3') $$,
  'PT429', 'rate_limited', 'a third message from the same /64 is over the limit'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'four', '2001:db8:cc:de::1') $$,
  'the neighbouring /64 is another client'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'five', '::ffff:198.51.100.40') $$,
  'an IPv4-mapped client'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'six', '198.51.100.40') $$,
  'the same IPv4 client, second message'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'seven', '198.51.100.40') $$,
  'PT429', 'rate_limited', 'IPv4 and IPv4-mapped share the contact bucket too'
);
select tests.clear_authentication();

select results_eq(
  $$ select c.ip_hash from private.contact_submissions as c where c.message in ('one', 'two')
     order by c.message $$,
  $$ values (private.hash_ip('2001:db8:cc:dd::1')), (private.hash_ip('2001:db8:cc:dd:9::9')) $$,
  'contact submissions keep the hash of the full address'
);

select * from finish();
rollback;
