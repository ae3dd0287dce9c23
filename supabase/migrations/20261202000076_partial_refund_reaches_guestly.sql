-- A partial refund is now recorded in Guestly (20261202000071): its alert kind says so.
update guestly.alert_kinds
   set description = 'A charge was partly refunded; the booking stays confirmed and Guestly '
                     'records the refund on the payment (the reservation stays).'
 where kind = 'partial_refund';
