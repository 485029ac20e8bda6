// The README's "First ten minutes", the frontend's half: tests/fakes/test_first_ten_minutes.py runs it
// against `thinbase serve --local --fakes` (what `make dev` runs) and clicks Pay in a real browser between.
//
//   node tests/js/first_ten_minutes.mjs checkout EMAIL PASSWORD PROVIDER CURRENCY   -> {order_id, redirect_url}
//   node tests/js/first_ten_minutes.mjs plan     EMAIL PASSWORD                     -> {plan_code, status}
// SUPABASE_URL and SUPABASE_ANON_KEY come from the environment. Prints one JSON object on stdout.
import { createClient } from '@supabase/supabase-js'

const [phase, email, password, provider, currency] = process.argv.slice(2)
// Realtime is not part of the local stack, and Node 20 has no WebSocket for supabase-js to find.
class NoRealtime {
  constructor() {
    throw new Error('Realtime is not served by the local stack')
  }
}
const supabase = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_ANON_KEY, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: NoRealtime },
})
const check = (what, error) => {
  if (error) throw new Error(`${what}: ${error.code ?? ''} ${error.message}`)
}

async function signedIn() {
  const signIn = await supabase.auth.signInWithPassword({ email, password })
  if (!signIn.error) return signIn.data.session
  const signUp = await supabase.auth.signUp({ email, password })
  check('sign up', signUp.error)
  return signUp.data.session
}

async function checkout() {
  const session = await signedIn()
  // The edge app's own endpoint, beside the Supabase APIs at the same URL on the local stack.
  const response = await fetch(`${process.env.SUPABASE_URL}/payments/checkout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ plan: 'PRO', provider, currency }),
  })
  const body = await response.json()
  if (!response.ok) throw new Error(`checkout: ${response.status} ${JSON.stringify(body)}`)
  return { order_id: body.order_id, redirect_url: body.redirect_url }
}

async function plan() {
  await signedIn()
  const { data, error } = await supabase.from('subscriptions').select('plan_code, status').single()
  check('subscription', error)
  return data
}

const phases = { checkout, plan }
console.log(JSON.stringify(await phases[phase]()))
