-- Expand: add the new columns beside the old one. Both are nullable with no default, so adding
-- them rewrites nothing and the running release (which still writes only `name`) never notices.
ALTER TABLE profiles ADD COLUMN IF NOT EXISTS first_name text;
ALTER TABLE profiles ADD COLUMN IF NOT EXISTS last_name text;
