-- Display text: what users type that operators and other users see (a profile's name, the contact form's
-- name, a waitlist source) is one line of plain text. private.is_display_text() is the rule: no C0 or C1
-- control character (TAB, LF, CR and ESC included), no DEL, no line or paragraph separator (U+2028/U+2029),
-- no bidirectional-formatting character (U+061C, U+200E/U+200F, U+202A-U+202E, U+2066-U+2069): such a name
-- could retitle or recolour an operator's terminal, or reverse how a line reads. A trigger on each column
-- enforces it on every write path (RPC, PostgREST PATCH, service role) with PT400 and the column's code;
-- sign-up metadata that breaks it is dropped, as overlong names are cut. Runs as `postgres`; rolled back.
begin;
set local client_min_messages = warning;
select plan(44);

-- This file counts only its own rows and buckets; the deletes roll back with everything else.
delete from private.rate_limit_buckets;

do $$
begin
  perform tests.create_supabase_user('dt-alice');
  perform tests.create_supabase_user('dt-bob');
  -- Sign-up metadata is whatever the client sent to Supabase Auth.
  perform tests.create_supabase_user('dt-title', null, null, '{"full_name": "\u001b]0;pwned\u0007Eve"}');
  perform tests.create_supabase_user('dt-rlo', null, null, '{"name": "Mallory \u202egpj.exe"}');
  perform tests.create_supabase_user('dt-fine', null, null, '{"full_name": "  Zoë Ærø 👩‍👩‍👧 "}');
end
$$;

-- The rule --------------------------------------------------------------------------------------------------
select has_function('private', 'is_display_text', array['text'], 'private.is_display_text(text) exists');
select volatility_is(
  'private', 'is_display_text', array['text'], 'immutable', 'is_display_text is immutable'
);
select is_empty(
  $$ select v.label from (values
       ('ascii', 'Alice Liddell'),
       ('apostrophe and hyphen', 'Mary-Jane O''Brien'),
       ('latin accents', 'Zoë Ærøskøbing'),
       ('arabic', 'محمد بن موسى'),
       ('hebrew', 'שלום עליכם'),
       ('cjk', '山田 太郎'),
       ('emoji with zero-width joiners', '👩‍👩‍👧 family'),
       ('empty', ''),
       ('null', null)
     ) as v (label, value)
     where not private.is_display_text(v.value) $$,
  'plain text in any script, emoji sequences (ZWJ), empty and null are display text'
);
select is_empty(
  $$ select v.label from (values
       ('ESC ] title BEL', E'\u001b]0;pwned\u0007'),
       ('ESC [ colour', E'\u001b[31mred'),
       ('CR', E'a\rb'),
       ('LF', E'a\nb'),
       ('CR LF', E'a\r\nb'),
       ('TAB', E'a\tb'),
       ('BEL', E'a\u0007b'),
       ('BS', E'a\bb'),
       ('U+0001', E'a\u0001b'),
       ('U+001F', E'a\u001fb'),
       ('DEL', E'a\u007fb'),
       ('C1 U+0080', E'a\u0080b'),
       ('C1 NEL U+0085', E'a\u0085b'),
       ('C1 CSI U+009B', E'a\u009bb'),
       ('C1 U+009F', E'a\u009fb'),
       ('ALM U+061C', E'a\u061cb'),
       ('LRM U+200E', E'a\u200eb'),
       ('RLM U+200F', E'a\u200fb'),
       ('LS U+2028', E'a\u2028b'),
       ('PS U+2029', E'a\u2029b'),
       ('LRE U+202A', E'a\u202ab'),
       ('RLE U+202B', E'a\u202bb'),
       ('PDF U+202C', E'a\u202cb'),
       ('LRO U+202D', E'a\u202db'),
       ('RLO U+202E', E'a\u202eb'),
       ('LRI U+2066', E'a\u2066b'),
       ('RLI U+2067', E'a\u2067b'),
       ('FSI U+2068', E'a\u2068b'),
       ('PDI U+2069', E'a\u2069b')
     ) as v (label, value)
     where private.is_display_text(v.value) $$,
  'C0 controls (TAB, CR, LF, ESC …), DEL, C1 controls, line/paragraph separators and bidi controls are not'
);
select ok(
  private.is_display_text(E'a\u00a0b') and private.is_display_text(E'a\u00a1b')
  and private.is_display_text(E'a\u200db') and private.is_display_text(E'a\u2065b')
  and private.is_display_text(E'a\u206ab'),
  'the neighbours of the refused ranges are fine (NBSP, U+00A1, ZWJ, U+2065, U+206A)'
);

-- Where it is enforced --------------------------------------------------------------------------------------
select trigger_is(
  'public', 'profiles', 'profiles_full_name_display_text', 'private', 'refuse_non_display_text',
  'profiles.full_name is checked on every insert and update'
);
select trigger_is(
  'private', 'contact_submissions', 'contact_submissions_name_display_text', 'private',
  'refuse_non_display_text', 'contact_submissions.name is checked'
);
select trigger_is(
  'public', 'waitlist', 'waitlist_source_display_text', 'private', 'refuse_non_display_text',
  'waitlist.source is checked'
);

-- update_profile, as the user -------------------------------------------------------------------------------
select tests.authenticate_as('dt-alice');
select lives_ok($$ select public.update_profile(full_name => 'Alice') $$, 'a plain name is accepted');
select throws_ok(
  $$ select public.update_profile(full_name => E'\u001b]0;pwned\u0007Alice') $$,
  'PT400', 'invalid_full_name', 'ESC ] 0 ; title BEL (retitles a terminal): PT400 invalid_full_name'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\u001b[31m') $$,
  'PT400', 'invalid_full_name', 'an ANSI colour sequence: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\r\nrole: admin') $$,
  'PT400', 'invalid_full_name', 'CR LF (a second line): PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\nBob') $$,
  'PT400', 'invalid_full_name', 'LF alone: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\tBob') $$,
  'PT400', 'invalid_full_name', 'TAB: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Mallory \u202egpj.exe') $$,
  'PT400', 'invalid_full_name', 'RIGHT-TO-LEFT OVERRIDE U+202E: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Mallory \u2067x\u2069') $$,
  'PT400', 'invalid_full_name', 'bidi isolates U+2067/U+2069: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\u009b31m') $$,
  'PT400', 'invalid_full_name', 'the C1 control CSI U+009B: PT400'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Alice\u007f') $$,
  'PT400', 'invalid_full_name', 'DEL: PT400'
);
select results_eq(
  $$ select p.full_name from public.profiles as p $$, $$ values ('Alice') $$,
  'every refusal left the name as it was'
);
select lives_ok(
  $$ select public.update_profile(full_name => 'Zoë 👩‍👩‍👧 محمد') $$,
  'any script and emoji sequences are accepted'
);

-- The same rule on the table: PostgREST's PATCH /rest/v1/profiles writes full_name directly -----------------
select throws_ok(
  $$ update public.profiles set full_name = E'\u001b]0;pwned\u0007'
     where id = tests.get_supabase_uid('dt-alice') $$,
  'PT400', 'invalid_full_name', 'a direct UPDATE of full_name is refused the same way'
);
select lives_ok(
  $$ update public.profiles set full_name = 'Alice L.' where id = tests.get_supabase_uid('dt-alice') $$,
  'a direct UPDATE with a plain name works'
);

-- The service role is held to it too.
select tests.authenticate_as_service_role();
select throws_ok(
  $$ update public.profiles set full_name = E'Bob\u202e' where id = tests.get_supabase_uid('dt-bob') $$,
  'PT400', 'invalid_full_name', 'the service role cannot write such a name either'
);
select throws_ok(
  $$ insert into public.profiles (id, full_name) values (gen_random_uuid(), E'x\u001b') $$,
  'PT400', 'invalid_full_name', 'nor insert one'
);

-- Rows written before the rule: not rewritten, not blocking other changes --------------------------------
select tests.clear_authentication();
alter table public.profiles disable trigger profiles_full_name_display_text;
update public.profiles set full_name = E'Old\u001b[2JName'
where id = tests.get_supabase_uid('dt-bob');
alter table public.profiles enable trigger profiles_full_name_display_text;
select tests.authenticate_as('dt-bob');
select lives_ok(
  $$ select public.update_profile(avatar_path => tests.get_supabase_uid('dt-bob')::text || '/avatar') $$,
  'a user whose stored name predates the rule can still change their avatar (the name is not re-checked)'
);
select results_eq(
  $$ select p.full_name, p.avatar_path from public.profiles as p $$,
  $$ values (E'Old\u001b[2JName', tests.get_supabase_uid('dt-bob')::text || '/avatar') $$,
  'the old name stays as it was: the CLI escapes what it prints, whatever is stored'
);
select lives_ok(
  $$ select public.update_profile(full_name => 'Bob') $$, 'and can replace it with a plain name'
);
select throws_ok(
  $$ select public.update_profile(full_name => E'Old\u001b[2JName') $$,
  'PT400', 'invalid_full_name', 'but not set it back'
);

-- Sign-up metadata ------------------------------------------------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select p.full_name from public.profiles as p where p.id = tests.get_supabase_uid('dt-title') $$,
  $$ values (null::text) $$,
  'a sign-up full_name with ESC is dropped: the user signs up without a name (sign-up has no form to refuse)'
);
select results_eq(
  $$ select p.full_name from public.profiles as p where p.id = tests.get_supabase_uid('dt-rlo') $$,
  $$ values (null::text) $$,
  'a sign-up name with RIGHT-TO-LEFT OVERRIDE is dropped'
);
select results_eq(
  $$ select p.full_name from public.profiles as p where p.id = tests.get_supabase_uid('dt-fine') $$,
  $$ values ('Zoë Ærø 👩‍👩‍👧') $$,
  'a plain sign-up name is kept (trimmed)'
);
select results_eq(
  $$ select s.plan_code, r.role from public.subscriptions as s
     inner join public.user_roles as r on s.user_id = r.user_id
     where s.user_id = tests.get_supabase_uid('dt-title') $$,
  $$ values ('FREE', 'member') $$,
  'and the rest of onboarding happened as usual'
);

-- The contact form (service role, the edge app) ----------------------------------------------------------
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select public.record_contact_submission(E'Ann \u202eevil', 'ann@example.com', 'Hi', '198.51.100.71') $$,
  'PT400', 'invalid_name', 'a contact name with a bidi override: PT400 invalid_name'
);
select throws_ok(
  $$ select public.record_contact_submission(E'Ann\u009b2J', 'ann@example.com', 'Hello', '198.51.100.71') $$,
  'PT400', 'invalid_name', 'a contact name with the C1 control CSI: PT400 invalid_name'
);
select throws_ok(
  $$ select public.record_contact_submission(
       E'Ann\u001b]0;x\u0007', 'ann@example.com', 'Hi', '198.51.100.71'
     ) $$,
  'PT400', 'invalid_name', 'a contact name with ESC: PT400 invalid_name (as before)'
);
select lives_ok(
  $$ select public.record_contact_submission(
       'Ann Ærø', 'ann@example.com', E'Line 1\nLine 2\r\n', '198.51.100.71'
     ) $$,
  'a plain name with a multi-line message is recorded (a message is not display text)'
);
select throws_ok(
  $$ update private.contact_submissions set name = E'Ann\u202e' where email = 'ann@example.com' $$,
  'PT400', 'invalid_name', 'the rule holds on the table too'
);

-- The waitlist (anon) ---------------------------------------------------------------------------------------
set local "request.headers" = '{"x-forwarded-for": "198.51.100.72"}';
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.join_waitlist('dt-wl1@example.com', E'web\u001b[2J') $$,
  'PT400', 'invalid_source', 'a waitlist source with ESC: PT400 invalid_source'
);
select throws_ok(
  $$ select public.join_waitlist('dt-wl1@example.com', E'web\u202e') $$,
  'PT400', 'invalid_source', 'a waitlist source with a bidi override: PT400 invalid_source'
);
select is(
  public.join_waitlist('dt-wl1@example.com', 'landing-hero'), 'joined', 'a plain source is accepted'
);
select is(public.join_waitlist('dt-wl2@example.com'), 'joined', 'no source is accepted (web)');
select tests.clear_authentication();
select results_eq(
  $$ select w.email::text, w.source from public.waitlist as w where w.email like 'dt-wl%' order by w.email $$,
  $$ values ('dt-wl1@example.com', 'landing-hero'), ('dt-wl2@example.com', 'web') $$,
  'only the accepted joins are stored'
);

-- The error a client sees -----------------------------------------------------------------------------------
select tests.authenticate_as('dt-alice');
create function pg_temp.refusal(name text)
returns text
language plpgsql
volatile
as $$
declare
  code text;
  message text;
  detail text;
  hint text;
begin
  perform public.update_profile(full_name => name);
  return 'accepted';
exception when others then
  get stacked diagnostics code = returned_sqlstate, message = message_text, detail = pg_exception_detail,
    hint = pg_exception_hint;
  return concat_ws(' | ', code, message, detail, hint);
end;
$$;
select is(
  pg_temp.refusal(E'Mallory \u202egpj.exe'),
  'PT400 | invalid_full_name | A name is one line of plain text: no control characters (tab, line breaks, '
  || 'escape …) and no bidirectional-formatting characters. | U+202E at position 9',
  'the detail says what is refused, the hint which character and where (PostgREST passes both on)'
);
select is(
  pg_temp.refusal(E'\u001b]0;x\u0007'),
  'PT400 | invalid_full_name | A name is one line of plain text: no control characters (tab, line breaks, '
  || 'escape …) and no bidirectional-formatting characters. | U+001B at position 1',
  'the first offending character is the one named'
);

select * from finish();
rollback;
