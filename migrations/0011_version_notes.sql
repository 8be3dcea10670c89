-- A note per graph version: what changed, written by whoever saved it (the Builder's Save asks for
-- one). Empty for versions saved without one.
ALTER TABLE graphs ADD COLUMN note text NOT NULL DEFAULT '' CHECK (length(note) <= 2000);
