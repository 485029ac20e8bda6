// The local stack as a frontend sees it, through supabase-js: tests/test_client_contract.py runs this
// and compares its JSON output with the same calls made through supabase-py.
//
//   node tests/js/client_contract.mjs main   EMAIL PASSWORD OTHER_USER_ID
//   node tests/js/client_contract.mjs reuse  EMAIL PASSWORD ROTATED_REFRESH_TOKEN
// SUPABASE_URL and SUPABASE_ANON_KEY come from the environment. Prints one JSON object on stdout.
import { createClient } from '@supabase/supabase-js'

const [phase, email, password, extra] = process.argv.slice(2)
// Realtime is not part of the local stack, and Node 20 has no WebSocket for supabase-js to find: a
// transport that refuses to connect (the test opens no channel, so it is never constructed).
class NoRealtime {
  constructor() {
    throw new Error('Realtime is not served by the local stack')
  }
}
const client = () =>
  createClient(process.env.SUPABASE_URL, process.env.SUPABASE_ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: NoRealtime },
  })
const failure = (error) => (error ? { code: error.code ?? null, status: error.status ?? null } : null)

async function main(otherUserId) {
  const supabase = client()
  const out = {}
  const signUp = await supabase.auth.signUp({ email, password, options: { data: { full_name: 'Ada' } } })
  out.sign_up = {
    error: failure(signUp.error),
    has_session: Boolean(signUp.data.session),
    email: signUp.data.user?.email ?? null,
    full_name: signUp.data.user?.user_metadata?.full_name ?? null,
  }
  const again = await supabase.auth.signUp({ email, password })
  out.sign_up_again = failure(again.error)
  const weak = await supabase.auth.signUp({ email: `weak-${email}`, password: '123' })
  out.weak_password = failure(weak.error)
  const wrong = await supabase.auth.signInWithPassword({ email, password: `${password}-wrong` })
  out.wrong_password = failure(wrong.error)

  const signIn = await supabase.auth.signInWithPassword({ email, password })
  const userId = signIn.data.user?.id
  out.sign_in = { error: failure(signIn.error), same_user: userId === signUp.data.user?.id }
  const first = signIn.data.session.refresh_token
  const refreshed = await supabase.auth.refreshSession()
  const second = refreshed.data.session?.refresh_token
  out.refresh = { error: failure(refreshed.error), rotated: Boolean(second) && second !== first }
  // The token just replaced, used again: GoTrue answers with the session's current token.
  const lost = await supabase.auth.refreshSession({ refresh_token: first })
  out.refresh_replaced_again = { error: failure(lost.error), same_as_current: lost.data.session?.refresh_token === second }
  const third = await supabase.auth.refreshSession({ refresh_token: second })
  out.refresh_again = { error: failure(third.error), rotated: third.data.session?.refresh_token !== second }

  const profile = await supabase.from('profiles').select('id,full_name').eq('id', userId).single()
  out.own_profile = { error: failure(profile.error), full_name: profile.data?.full_name ?? null, mine: profile.data?.id === userId }
  const subscription = await supabase.from('subscriptions').select('plan_code,status').maybeSingle()
  out.own_subscription = { error: failure(subscription.error), data: subscription.data }
  const payments = await supabase.from('payments').select('*', { count: 'exact' }).order('created_at', { ascending: false })
  out.own_payments = { error: failure(payments.error), rows: payments.data?.length ?? null, count: payments.count }
  const otherProfile = await supabase.from('profiles').select('*').eq('id', otherUserId)
  const otherSubscription = await supabase.from('subscriptions').select('*').eq('user_id', otherUserId)
  out.other_user_rows = {
    errors: [failure(otherProfile.error), failure(otherSubscription.error)],
    rows: (otherProfile.data?.length ?? -1) + (otherSubscription.data?.length ?? -1),
  }
  const otherSingle = await supabase.from('profiles').select('*').eq('id', otherUserId).single()
  out.other_profile_single = failure(otherSingle.error)

  const renamed = await supabase.from('profiles').update({ full_name: 'Ada Lovelace' }).eq('id', userId).select('full_name').single()
  out.update_own_name = { error: failure(renamed.error), full_name: renamed.data?.full_name ?? null }
  const otherRename = await supabase.from('profiles').update({ full_name: 'Mallory' }).eq('id', otherUserId).select()
  out.update_other_name = { error: failure(otherRename.error), rows: otherRename.data?.length ?? null }
  const avatar = await supabase.from('profiles').update({ avatar_url: 'https://example.com/x.png' }).eq('id', userId)
  out.update_avatar_column = failure(avatar.error)
  const unsupported = await supabase.from('profiles').select('*').filter('full_name', 'fts', 'ada')
  out.unsupported_filter = failure(unsupported.error)

  const user = await supabase.auth.getUser()
  out.get_user = { error: failure(user.error), email: user.data.user?.email ?? null }
  const updated = await supabase.auth.updateUser({ data: { locale: 'en' } })
  out.update_user = { error: failure(updated.error), locale: updated.data.user?.user_metadata?.locale ?? null }
  out.refresh_tokens = { rotated: first, current: third.data.session?.refresh_token ?? null }
  return out
}

async function reuse(rotated) {
  const supabase = client()
  const out = {}
  const reused = await supabase.auth.refreshSession({ refresh_token: rotated })
  out.reuse_rotated = failure(reused.error)
  const signIn = await supabase.auth.signInWithPassword({ email, password })
  const token = signIn.data.session?.refresh_token
  const signOut = await supabase.auth.signOut()
  out.sign_out = failure(signOut.error)
  const after = await supabase.auth.refreshSession({ refresh_token: token })
  out.refresh_after_sign_out = failure(after.error)
  return out
}

const result = phase === 'main' ? await main(extra) : await reuse(extra)
process.stdout.write(JSON.stringify(result) + '\n')
