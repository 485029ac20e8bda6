"""Bulk data, loaded as superuser with generate_series. Nothing is disabled: signup triggers still create
each user's profile, subscription and role, and every payment row is audited, as in production.

User `n` has id `bench.uid(n)`. Number ranges: 1-1,000 own the payment history the RLS reads use;
webhook pools start at 2,000,000, the duplicate storm's at 3,000,000, the HTTP endpoint's at 4,000,000.
"""

from __future__ import annotations

from bench.harness import Bench


def create_users(bench: Bench, first: int, last: int) -> None:
    """Users first..last, inserted as supabase_auth_admin as Supabase Auth does (LocalStack.create_user)."""
    bench.sql(
        f"""
        begin;
        set local role supabase_auth_admin;
        insert into auth.users (
          instance_id, id, aud, role, email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data,
          created_at, updated_at, last_sign_in_at, confirmation_token, recovery_token, email_change_token_new,
          email_change
        )
        select '00000000-0000-0000-0000-000000000000', bench.uid(n), 'authenticated', 'authenticated',
          'bench-' || n || '@example.test', now(), '{{"provider": "email", "providers": ["email"]}}', '{{}}',
          now(), now(), now(), '', '', '', ''
        from generate_series({int(first)}, {int(last)}) as n;
        commit;
        """
    )


def paid_history(bench: Bench, first: int, last: int, users: int) -> None:
    """Paid payments first..last, owned round-robin by users 1..`users`, one a minute further back in time:
    the lower numbers are every user's newest payments, whatever the table's size."""
    bench.sql(
        f"""
        insert into public.payments (
          user_id, plan_code, provider, status, amount_minor, currency, order_id, expires_at, paid_at,
          created_at
        )
        select bench.uid(1 + (n - 1) % {int(users)}), 'PRO', 'stripe', 'paid', 900, 'USD', 'R-' || n,
          t + interval '1 day', t, t
        from generate_series({int(first)}, {int(last)}) as n
        cross join lateral (select now() - pg_catalog.make_interval(mins => n::integer) as t) as at
        """
    )


def pending_payments(bench: Bench, prefix: str, first: int, last: int) -> None:
    """Users first..last, each with one pending PRO checkout (Stripe, 9.00 USD) whose order id is prefix+n."""
    create_users(bench, first, last)
    bench.sql(
        """
        insert into public.payments (user_id, plan_code, provider, status, amount_minor, currency, order_id,
                                     expires_at)
        select bench.uid(n), 'PRO', 'stripe', 'pending', 900, 'USD', %s || n, now() + interval '1 day'
        from generate_series(%s::bigint, %s::bigint) as n
        """,
        (prefix, first, last),
    )


def fill_buckets(bench: Bench, count: int) -> None:
    """`count` more live rate-limit buckets (another namespace, windows that end tomorrow)."""
    bench.sql(
        """
        insert into private.rate_limit_buckets (namespace, subject_hash, window_start, hits, reset_at)
        select 'bench.fill', sha256(convert_to('fill-' || n, 'UTF8')), date_trunc('hour', now()), 1,
          date_trunc('hour', now()) + interval '1 day'
        from generate_series(1, %s::bigint) as n
        """,
        (count,),
    )


def vacuum(bench: Bench) -> None:
    """After a bulk load: statistics and visibility maps as autovacuum would leave them, before measuring."""
    bench.sql(
        "vacuum (analyze) public.payments, public.subscriptions, public.profiles, public.user_roles, "
        "auth.users, private.audit_logs, private.rate_limit_buckets, private.webhook_events"
    )
