-- Display text: one rule for what users type that operators and other users see, enforced on the tables.
-- This SUPERSEDES private.handle_new_user (20261122001300_profiles_and_onboarding): the same onboarding,
-- except that a sign-up name that is not display text is dropped (the profile starts without one), as an
-- overlong one is already cut rather than failing the sign-up. It adds a check to three columns:
-- public.profiles.full_name (code invalid_full_name), private.contact_submissions.name (invalid_name, the
-- contact form's code) and public.waitlist.source (invalid_source). The contact form's own check
-- (20261122002400_contact_submissions: `name ~ '[[:cntrl:]]'`, in the RPC and as a constraint) stays; it
-- catches C0 and C1 controls but not bidirectional-formatting characters, which this rule adds.
--
-- Why: update_profile accepted ESC, CR/LF and bidi overrides in full_name, and the operator CLI printed
-- them (`thinbase users list/show`, `audit tail`): a name like ESC ] 0 ; ... BEL retitles the operator's
-- terminal, ESC [ ... m recolours it, CR/LF forge extra lines, and U+202E reverses how the rest of a line
-- reads. PostgREST's PATCH of profiles.full_name (a column grant to authenticated) and sign-up metadata
-- reach the column without update_profile, so the rule sits on the table, not in one RPC.
--
-- What is refused (private.is_display_text): C0 controls U+0001-U+001F (TAB, LF and CR included: a name is
-- one line, and a TAB breaks table layouts as a line break does), DEL U+007F, C1 controls U+0080-U+009F
-- (U+009B is a one-byte CSI to some terminals), the line and paragraph separators U+2028/U+2029, and the
-- bidirectional-formatting characters U+061C, U+200E/U+200F, U+202A-U+202E and U+2066-U+2069. Everything
-- else is text: any script, emoji sequences with zero-width joiners, NBSP. Multi-line text that is not a
-- name (the contact form's message) is not display text and keeps its own rules.
--
-- How: a BEFORE INSERT OR UPDATE OF <column> trigger, private.refuse_non_display_text(column, code), raises
-- PT400 with the column's code, a detail saying what is refused and a hint naming the first such character
-- and its position. It checks only a new or changed value, so rows stored before this migration are neither
-- rewritten nor block changes to their other columns (what protects operators from those is the CLI, which
-- escapes whatever it prints). The trigger function is security definer so that no API role needs EXECUTE
-- on the rule itself.

-- The rule -------------------------------------------------------------------------------------------------
-- Where the first character that display text may not contain is (1-based), 0 when there is none (or no
-- text). The one place the refused set is written down.
create function private.non_display_text_position(value text)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
  select coalesce(
    pg_catalog.regexp_instr(value, '[\u0001-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]'),
    0
  )
$$;

-- True when `value` is one line of plain text (null counts: "no text" is not a violation).
create function private.is_display_text(value text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$ select private.non_display_text_position(value) = 0 $$;

-- The check, as a trigger: TG_ARGV[0] is the column, TG_ARGV[1] the error code clients get.
create function private.refuse_non_display_text()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  value text := pg_catalog.to_jsonb(new) ->> tg_argv[0];
  at_char integer;
begin
  if tg_op = 'UPDATE' and value is not distinct from (pg_catalog.to_jsonb(old) ->> tg_argv[0]) then
    return new;
  end if;
  at_char := private.non_display_text_position(value);
  if at_char > 0 then
    raise exception using
      errcode = 'PT400',
      message = tg_argv[1],
      detail = format(
        '%s is one line of plain text: no control characters (tab, line breaks, escape …) and no '
        || 'bidirectional-formatting characters.',
        case tg_argv[1] when 'invalid_source' then 'A source' else 'A name' end
      ),
      hint = format(
        'U+%s at position %s',
        pg_catalog.lpad(pg_catalog.upper(pg_catalog.to_hex(pg_catalog.ascii(pg_catalog.substr(value, at_char, 1)))),
          4, '0'),
        at_char
      );
  end if;
  return new;
end;
$$;

-- Where it applies -----------------------------------------------------------------------------------------
create trigger profiles_full_name_display_text
before insert or update of full_name on public.profiles
for each row execute function private.refuse_non_display_text('full_name', 'invalid_full_name');

create trigger contact_submissions_name_display_text
before insert or update of name on private.contact_submissions
for each row execute function private.refuse_non_display_text('name', 'invalid_name');

create trigger waitlist_source_display_text
before insert or update of source on public.waitlist
for each row execute function private.refuse_non_display_text('source', 'invalid_source');

-- Sign-up: the metadata's name is kept only when it is display text ---------------------------------------
create or replace function private.handle_new_user()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  meta jsonb := coalesce(new.raw_user_meta_data, '{}'::jsonb);
  settings private.settings := private.current_settings();
  is_bootstrap_admin boolean;
  display_name text := left(nullif(btrim(coalesce(meta ->> 'full_name', meta ->> 'name', '')), ''), 200);
begin
  -- citext's case-insensitive `=` lives in `extensions`; with search_path '' a bare `=` would resolve to
  -- pg_catalog's text = text and compare case-sensitively.
  is_bootstrap_admin := new.email is not null
    and new.email::extensions.citext operator(extensions.=) any(settings.admin_bootstrap_emails);

  -- Sign-up has no form to show an error on: a name that is not display text is dropped, and the user can
  -- set one later with update_profile, which says what is wrong with it.
  insert into public.profiles (id, full_name, avatar_url)
  values (
    new.id,
    case when private.is_display_text(display_name) then display_name end,
    left(nullif(coalesce(meta ->> 'avatar_url', meta ->> 'picture', ''), ''), 2048)
  );

  insert into public.subscriptions (user_id, plan_code, status, current_period_start)
  values (new.id, settings.default_plan, 'active', pg_catalog.now());

  insert into public.user_roles (user_id, role)
  values (new.id, case when is_bootstrap_admin then 'admin' else 'member' end);

  return new;
end;
$$;
