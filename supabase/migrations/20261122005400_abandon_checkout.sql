-- abandon_checkout: close a pending payment whose checkout the provider will never hand out again, so that
-- the next create_payment starts a new order.
--
-- Why: Midtrans has no idempotency key and accepts each order id once. When its answer to a checkout is
-- lost (a timeout after Midtrans created the transaction), every retry for that order is refused with
-- "order_id has already been taken", and create_payment keeps returning the same pending payment until it
-- expires: the user could not pay for a day. The edge app now abandons such a payment and starts again.
-- Only a pending payment without an attached checkout can be abandoned: one with a checkout may still be
-- paid and is never closed here. Should money arrive for it after all, apply_payment_event still takes
-- failed -> paid.

create function public.abandon_checkout(payment_id uuid, reason text)
returns public.payments
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.payments;
begin
  if reason is null or btrim(reason) = '' or char_length(reason) > 200 then
    raise exception using errcode = '22023', message = 'invalid_argument',
      detail = 'reason must be 1-200 characters';
  end if;
  update public.payments as p
  set status = 'failed',
      metadata = p.metadata || pg_catalog.jsonb_build_object('abandoned', abandon_checkout.reason)
  where p.id = abandon_checkout.payment_id and p.status = 'pending'
    and p.checkout_url is null and p.checkout_token is null
  returning p.* into result;
  if found then
    return result;
  end if;
  select p.* into result from public.payments as p where p.id = abandon_checkout.payment_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'payment_not_found',
      detail = format('No payment %s.', abandon_checkout.payment_id);
  end if;
  raise exception using errcode = 'PT409', message = 'payment_not_abandonable',
    detail = format('Payment %s is %s%s; only a pending payment without a checkout is abandoned.', result.id,
      result.status, case when result.checkout_url is not null or result.checkout_token is not null
        then ' with a checkout' else '' end);
end;
$$;

grant execute on function public.abandon_checkout(uuid, text) to service_role;
