-- The language the customer's messages and pages use for an appointment
-- (docs/i18n.md); '' : the hub's default.
ALTER TABLE appointments ADD COLUMN language TEXT NOT NULL DEFAULT '';
