-- Several nodes on one database (issue 18, docs/spec.md §22.x). An
-- election's head gains its mark: the log's size after the last append
-- that was not fenced (anything but ballots), which a ballot's append
-- compares with the mark of the state it was checked against, in the same
-- transaction. ballot_keys holds the key (ballot code) of every ballot
-- appended fenced, unique in its election: two nodes cannot both append
-- a replay (spec §18.5). The logs as they are now are checked in full by
-- the nodes that replay them: their mark is their size.
ALTER TABLE head ADD COLUMN mark BIGINT NOT NULL DEFAULT 0;
UPDATE head SET mark = size;
CREATE TABLE ballot_keys (
	election TEXT NOT NULL,
	key      BYTEA NOT NULL,
	idx      BIGINT NOT NULL,
	PRIMARY KEY (election, key)
);
