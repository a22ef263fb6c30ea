-- Contract: the old column goes only once no pool can run the release that still reads it
-- (bluegreen runs this after the next release has replaced the standby pool, or after `retire`).
ALTER TABLE profiles DROP COLUMN IF EXISTS name;
