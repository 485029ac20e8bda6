-- Avatar storage: a private bucket `avatars` (2 MB; JPEG, PNG, WebP, GIF). Each user may upload, read,
-- replace and delete exactly one object, `<own uid>/avatar`. update_profile() links it to the profile.
-- The Storage API enforces the bucket's size and type limits; these policies decide who may touch what.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('avatars', 'avatars', false, 2097152, array['image/jpeg', 'image/png', 'image/webp', 'image/gif'])
on conflict (id) do update
  set
    public = excluded.public,
    file_size_limit = excluded.file_size_limit,
    allowed_mime_types = excluded.allowed_mime_types;

create policy avatars_insert_own on storage.objects
for insert to authenticated
with check (bucket_id = 'avatars' and name = (select auth.uid())::text || '/avatar');

create policy avatars_select_own on storage.objects
for select to authenticated
using (bucket_id = 'avatars' and name = (select auth.uid())::text || '/avatar');

create policy avatars_update_own on storage.objects
for update to authenticated
using (bucket_id = 'avatars' and name = (select auth.uid())::text || '/avatar')
with check (bucket_id = 'avatars' and name = (select auth.uid())::text || '/avatar');

create policy avatars_delete_own on storage.objects
for delete to authenticated
using (bucket_id = 'avatars' and name = (select auth.uid())::text || '/avatar');

-- The definer half of update_profile: only the caller's own profile and own avatar path.
-- A null argument leaves that field as it is; an empty string clears it.
create function private.update_profile(full_name text, avatar_path text)
returns public.profiles
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  result public.profiles;
begin
  if uid is null then
    raise exception using errcode = 'PT401', message = 'not_authenticated', detail = 'Sign in to edit your profile.';
  end if;
  if char_length(btrim(update_profile.full_name)) > 200 then
    raise exception using errcode = 'PT400', message = 'invalid_full_name',
      detail = 'A name has at most 200 characters.';
  end if;
  if nullif(update_profile.avatar_path, '') is not null and update_profile.avatar_path <> uid::text || '/avatar' then
    raise exception using errcode = 'PT403', message = 'invalid_avatar_path',
      detail = format('Your avatar lives at %s/avatar.', uid);
  end if;
  update public.profiles as p
  set full_name = case when update_profile.full_name is null then p.full_name
                       else nullif(btrim(update_profile.full_name), '') end,
      avatar_path = case when update_profile.avatar_path is null then p.avatar_path
                         else nullif(update_profile.avatar_path, '') end
  where p.id = uid
  returning p.* into result;
  if not found then
    raise exception using errcode = 'PT404', message = 'profile_not_found', detail = 'No profile for this user.';
  end if;
  return result;
end;
$$;

grant execute on function private.update_profile(text, text) to authenticated;

create function public.update_profile(full_name text default null, avatar_path text default null)
returns public.profiles
language sql
volatile
security invoker
set search_path = ''
as $$ select private.update_profile(full_name, avatar_path) $$;

grant execute on function public.update_profile(text, text) to authenticated;
