-- The officer's mailings to members from the console (issue 17): "voting
-- is open" and reminders. One row per recipient of a send, claimed before
-- its letter goes, so that a second click, another node or a restart
-- never mails anyone twice the same send. addr is a MAC of the address
-- under the sign-in list's key (no address in clear); state: 0 claimed
-- (being sent, or the sender stopped while sending: never sent again),
-- 1 sent, 2 failed (tried again on resume); at is when (microseconds
-- since 1970, UTC).
CREATE TABLE mailings (
	election TEXT NOT NULL,
	send     TEXT NOT NULL,
	addr     TEXT NOT NULL,
	state    INTEGER NOT NULL,
	at       BIGINT NOT NULL,
	PRIMARY KEY (election, send, addr)
);
