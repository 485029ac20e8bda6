-- private.contact_submissions, record_contact_submission(), mark_contact_submission() and
-- list_unsent_contact_submissions(): the edge app records a message (validated, rate-limited by the client IP
-- it determined), sends it, and marks it sent or failed. Service role only. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(54);

-- The local stack is shared with the other suites (pytest leaves users' rows behind). What this file counts
-- is its own rows, so it starts from empty tables; the deletes roll back with everything else.
delete from private.contact_submissions;
delete from private.rate_limit_buckets;

do $$ begin perform tests.create_supabase_user('ct-alice'); end $$;

-- What record_contact_submission returned, by label.
create temporary table submitted (label text primary key, id uuid not null) on commit drop;
grant select, insert on submitted to service_role;

-- Shape and access rules ------------------------------------------------------------------------------
select has_table('private', 'contact_submissions', 'private.contact_submissions exists');
select tests.rls_enabled('private', 'contact_submissions');
select hasnt_column('private', 'contact_submissions', 'ip', 'no plain IP column');
select col_type_is('private', 'contact_submissions', 'ip_hash', 'bytea', 'the client IP is kept as a hash');
select has_index(
  'private', 'contact_submissions', 'contact_submissions_unsent_idx', array['created_at'],
  'unsent submissions are indexed by age'
);

select isnt_definer(
  'public', 'record_contact_submission', array['text', 'text', 'text', 'text'],
  'record_contact_submission is invoker'
);

-- Recording --------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
insert into submitted
select
  'first' as label,
  c.id
from public.record_contact_submission(
  ' Ann Example ', ' Ann@Example.COM ', 'Hello there', '203.0.113.5'
) as c;
select results_eq(
  $$ select c.name, c.email::text, c.message, c.status, c.attempts, c.last_error, c.provider_message_id,
       c.sent_at, c.created_at, c.ip_hash = private.hash_ip('203.0.113.5')
     from private.contact_submissions as c inner join submitted as s on c.id = s.id where s.label = 'first' $$,
  $$ values (
       'Ann Example', 'ann@example.com', 'Hello there', 'pending', 0, null::text, null::text,
       null::timestamptz, now(), true
     ) $$,
  'a submission is stored pending, name trimmed, address normalized, the IP as its salted hash'
);
select is_empty(
  $$ select 1 from private.contact_submissions as c
     where c.ip_hash = sha256(convert_to('203.0.113.5', 'UTF8'))
        or encode(c.ip_hash, 'escape') like '%203.0.113%' $$,
  'neither the IP nor its unsalted hash is stored'
);
select results_eq(
  $$ select c.message from public.record_contact_submission('Ann', 'ann@example.com', E'Line 1\nLine 2\r\n',
       '203.0.113.6') as c $$,
  $$ values (E'Line 1\nLine 2\r\n') $$,
  'a message may span lines and is stored as given'
);
select results_eq(
  $$ select char_length(c.name), char_length(c.message)
     from public.record_contact_submission(repeat('n', 200), 'ann@example.com', repeat('m', 5000),
       '203.0.113.6') as c $$,
  $$ values (200, 5000) $$,
  'a 200-character name and a 5000-character message are accepted'
);
select results_eq(
  $$ select c.ip_hash is null from public.record_contact_submission('Ann', 'ann@example.com', 'hi') as c $$,
  $$ values (true) $$,
  'without a client IP no hash is stored'
);

-- Validation: PT400 ----------------------------------------------------------------------------------------
select throws_ok(
  $$ select public.record_contact_submission(null, 'ann@example.com', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_name', 'no name'
);
select throws_ok(
  $$ select public.record_contact_submission('   ', 'ann@example.com', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_name', 'a blank name'
);
select throws_ok(
  $$ select public.record_contact_submission(repeat('n', 201), 'ann@example.com', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_name', 'a name longer than 200 characters'
);
select throws_ok(
  $$ select public.record_contact_submission(E'a\r\nBcc: victim@example.com', 'ann@example.com', 'hi',
       '203.0.113.7') $$,
  'PT400', 'invalid_name', 'header injection in the name (CR LF)'
);
select throws_ok(
  $$ select public.record_contact_submission(E'Ann\nX-Spam: yes', 'ann@example.com', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_name', 'a bare LF in the name'
);
select throws_ok(
  $$ select public.record_contact_submission(E'Ann\tExample', 'ann@example.com', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_name', 'a tab (any control character) in the name'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com, victim@example.com', 'hi',
       '203.0.113.7') $$,
  'PT400', 'invalid_email', 'two addresses'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', E'ann@example.com\r\nBcc: victim@example.com', 'hi',
       '203.0.113.7') $$,
  'PT400', 'invalid_email', 'header injection in the address'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'not-an-address', 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_email', 'not an address'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', null, 'hi', '203.0.113.7') $$,
  'PT400', 'invalid_email', 'no address'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', null, '203.0.113.7') $$,
  'PT400', 'invalid_message', 'no message'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', E' \n ', '203.0.113.7') $$,
  'PT400', 'invalid_message', 'a blank message'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', repeat('m', 5001), '203.0.113.7') $$,
  'PT400', 'invalid_message', 'a message longer than 5000 characters'
);
select results_eq(
  $$ select count(*) from private.contact_submissions $$,
  $$ values (4::bigint) $$,
  'nothing invalid was stored'
);

-- Rate limit per client IP ---------------------------------------------------------------------------
select tests.clear_authentication();
update private.settings set contact_limit = 2;
select tests.authenticate_as_service_role();
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'one', '198.51.100.30') $$,
  'first message from an IP'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'two', '198.51.100.30') $$,
  'second message from that IP'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'three', '198.51.100.30') $$,
  'PT429', 'rate_limited', 'past settings.contact_limit from one IP: PT429 rate_limited'
);
select throws_ok(
  $$ select public.record_contact_submission('Bob', 'bob@example.com', 'other person', '198.51.100.30') $$,
  'PT429', 'rate_limited', 'the limit is per IP, whatever the name or address'
);
select lives_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'three', '198.51.100.31') $$,
  'another IP still works'
);
select is_empty(
  $$ select 1 from private.contact_submissions as c where c.message in ('three', 'other person')
     and c.ip_hash = private.hash_ip('198.51.100.30') $$,
  'refused messages are not stored'
);

-- Marking sent or failed ------------------------------------------------------------------------------
insert into submitted
select
  'second' as label,
  c.id
from public.record_contact_submission('Cy', 'cy@example.com', 'please call', '198.51.100.32') as c;
insert into submitted
select
  'third' as label,
  c.id
from public.record_contact_submission('Di', 'di@example.com', 'hello', '198.51.100.32') as c;

select results_eq(
  $$ select m.status, m.attempts, m.provider_message_id, m.last_error, m.sent_at, m.updated_at
     from submitted as s, lateral public.mark_contact_submission(s.id, 'sent', 'msg_123') as m
     where s.label = 'first' $$,
  $$ values ('sent', 1, 'msg_123', null::text, now(), now()) $$,
  'marked sent: one attempt, the provider id, sent_at set'
);
select results_eq(
  $$ select m.status, m.attempts, m.provider_message_id, m.sent_at
     from submitted as s, lateral public.mark_contact_submission(s.id, 'failed', null, 'late error') as m
     where s.label = 'first' $$,
  $$ values ('sent', 1, 'msg_123', now()) $$,
  'a sent submission stays sent: a late mark changes nothing'
);
select results_eq(
  $$ select m.status, m.attempts, m.last_error, m.sent_at
     from submitted as s, lateral public.mark_contact_submission(s.id, 'failed', null, 'resend: 500') as m
     where s.label = 'second' $$,
  $$ values ('failed', 1, 'resend: 500', null::timestamptz) $$,
  'marked failed: one attempt, the error kept, not sent'
);
select results_eq(
  $$ select m.status, m.attempts, m.last_error
     from submitted as s, lateral public.mark_contact_submission(s.id, 'failed', null, 'timeout') as m
     where s.label = 'second' $$,
  $$ values ('failed', 2, 'timeout') $$,
  'failing again counts another attempt and keeps the latest error'
);
select results_eq(
  $$ select char_length(m.last_error)
     from submitted as s, lateral public.mark_contact_submission(s.id, 'failed', null, repeat('e', 3000)) as m
     where s.label = 'second' $$,
  $$ values (2000) $$,
  'an error is cut to 2000 characters'
);
select results_eq(
  $$ select m.status, m.attempts, m.last_error, m.provider_message_id, m.sent_at
     from submitted as s, lateral public.mark_contact_submission(s.id, 'sent', 'msg_456') as m
     where s.label = 'second' $$,
  $$ values ('sent', 4, null::text, 'msg_456', now()) $$,
  'a retry that succeeds: sent, the error cleared, attempts counted'
);
select throws_ok(
  $$ select public.mark_contact_submission(s.id, 'pending') from submitted as s where s.label = 'third' $$,
  '22023', 'invalid_argument', 'the status is sent or failed'
);
select throws_ok(
  $$ select public.mark_contact_submission(s.id, null) from submitted as s where s.label = 'third' $$,
  '22023', 'invalid_argument', 'a status is required'
);
select throws_ok(
  $$ select public.mark_contact_submission(gen_random_uuid(), 'sent') $$,
  'PT404', 'contact_submission_not_found', 'an unknown submission: PT404'
);

-- Listing what is left to send ------------------------------------------------------------------------
select tests.clear_authentication();
-- Give the rows distinct ages; the oldest is one of those still pending.
update private.contact_submissions as c
set created_at = now() - make_interval(mins => o.n::integer)
from (
  select
    c2.id,
    row_number() over (order by c2.message) as n
  from private.contact_submissions as c2
) as o
where c.id = o.id;
update private.contact_submissions as c set status = 'failed', attempts = 1, last_error = 'x'
from submitted as s
where c.id = s.id and s.label = 'third';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select l.id, l.status from public.list_unsent_contact_submissions() as l $$,
  $$ select c.id, c.status from private.contact_submissions as c where c.status in ('pending', 'failed')
     order by c.created_at $$,
  'list_unsent returns the pending and failed submissions, oldest first'
);
select results_eq(
  $$ select count(*), count(*) filter (where l.status = 'failed'), count(*) filter (where l.status = 'sent')
     from public.list_unsent_contact_submissions() as l $$,
  $$ values (7::bigint, 1::bigint, 0::bigint) $$,
  'six pending, one failed, nothing sent'
);
select results_eq(
  $$ select l.id from public.list_unsent_contact_submissions(2) as l $$,
  $$ select c.id from private.contact_submissions as c where c.status <> 'sent'
     order by c.created_at limit 2 $$,
  'the limit takes the oldest'
);
select results_eq(
  $$ select count(*) from public.list_unsent_contact_submissions(0) as l $$,
  $$ values (1::bigint) $$,
  'a limit below 1 is taken as 1'
);

-- Nobody else --------------------------------------------------------------------------------------------
select tests.authenticate_as('ct-alice');
select throws_ok(
  $$ select 1 from private.contact_submissions $$, '42501', null, 'a user cannot read submissions'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'hi', '203.0.113.9') $$,
  '42501', null, 'a user cannot record directly (the edge app does)'
);
select throws_ok(
  $$ select public.mark_contact_submission(s.id, 'sent') from submitted as s where s.label = 'third' $$,
  '42501', null, 'a user cannot mark submissions'
);
select throws_ok(
  $$ select * from public.list_unsent_contact_submissions() $$, '42501', null, 'a user cannot list them'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select 1 from private.contact_submissions $$, '42501', null, 'anon cannot read submissions'
);
select throws_ok(
  $$ select public.record_contact_submission('Ann', 'ann@example.com', 'hi', '203.0.113.9') $$,
  '42501', null, 'anon cannot record directly'
);
select throws_ok(
  $$ select public.mark_contact_submission(gen_random_uuid(), 'sent') $$, '42501', null,
  'anon cannot mark submissions'
);
select throws_ok(
  $$ select * from public.list_unsent_contact_submissions() $$, '42501', null, 'anon cannot list them'
);
select tests.clear_authentication();

-- Constraints hold for direct writes too.
select throws_ok(
  $$ insert into private.contact_submissions (name, email, message) values (E'a\r\nb', 'a@b.co', 'm') $$,
  'PT400', 'invalid_name',
  'a name with control characters is refused by the table itself (its display-text trigger, 20261204000210)'
);
select throws_ok(
  $$ update private.contact_submissions set status = 'sent', sent_at = null where status = 'failed' $$,
  '23514', null, 'sent exactly when sent_at is set'
);

select * from finish();
rollback;
