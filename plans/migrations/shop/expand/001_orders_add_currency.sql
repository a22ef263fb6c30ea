-- Expand: the new `currency` column replaces `currency_code`. Nullable and without a default,
-- so the old release keeps working while the new one starts writing both.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS currency text;
