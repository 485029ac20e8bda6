-- Refunds that may be partial and repeated, and disputes: the statuses and the refunded amount. This
-- SUPERSEDES the check constraints payments_status_known, payments_paid_at and payments_refunded_at
-- (20261122001400_payments).
--
-- Why: a payment was pending, paid, failed, expired or refunded, and any refund (Midtrans' and Lemon
-- Squeezy's partial_refund included) was a full one that took the plan away. Providers refund in parts and
-- more than once (Stripe's `amount_refunded` is the cumulative total), and buyers dispute payments with
-- their bank.
--
-- How: two statuses for refunds (partially_refunded, refunded) and two for disputes (disputed, charged_back),
-- and refunded_minor, the cumulative amount refunded so far (0 .. amount_minor). The constraints tie them:
-- a refunded payment has refunded all of it and a partially refunded one a part; refunded_at is when the
-- refunded amount last grew. Rows that are refunded today were refunded in full (that was the only kind), so
-- they get refunded_minor = amount_minor. Which event moves a payment between them is
-- private.payment_transition (20261204006020_payment_refunds_disputes).
--
-- Locks: ALTER TABLE takes payments' ACCESS EXCLUSIVE lock; the update of refunded rows and the checks run
-- under it.

alter table public.payments
add column refunded_minor bigint not null default 0;

comment on column public.payments.refunded_minor is
'The amount refunded so far, cumulative, in minor units of currency (0 .. amount_minor)';

update public.payments as p set refunded_minor = p.amount_minor
where p.status = 'refunded';

alter table public.payments
drop constraint payments_status_known,
drop constraint payments_paid_at,
drop constraint payments_refunded_at,
add constraint payments_status_known check (
  status in (
    'pending', 'paid', 'partially_refunded', 'refunded', 'disputed', 'charged_back', 'failed', 'expired'
  )
),
-- Refunds never exceed what was paid.
add constraint payments_refunded_minor_range check (refunded_minor between 0 and amount_minor),
-- Refunded means all of it; partially refunded, a part of it; a payment never paid has refunded nothing.
add constraint payments_refunded_all check ((status = 'refunded') = (refunded_minor = amount_minor)),
add constraint payments_partially_refunded_part check (
  status <> 'partially_refunded' or refunded_minor between 1 and amount_minor - 1
),
add constraint payments_unpaid_nothing_refunded check (
  status not in ('pending', 'failed', 'expired') or refunded_minor = 0
),
-- A payment that was paid knows when it was paid.
add constraint payments_paid_at check (
  status in ('pending', 'failed', 'expired') or paid_at is not null
),
-- refunded_at is when the refunded amount last grew: set exactly when something was refunded.
add constraint payments_refunded_at check ((refunded_minor > 0) = (refunded_at is not null));
