-- Contract: drop the old column once no pool can run a release that still reads it.
ALTER TABLE orders DROP COLUMN IF EXISTS currency_code;
