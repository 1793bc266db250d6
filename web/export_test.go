package web

import "time"

// Inflations is how many times the site inflated the WebAssembly module.
func Inflations(s *Site) int64 { return s.wasm.inflations.Load() }

// EntriesRead is how many log entries the lists of ballots read.
func EntriesRead(s *Site) (n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, es := range s.sites {
		n += es.rows.reads.Load()
	}
	return n
}

// TablesRendered is how many tables of ballots the site rendered.
func TablesRendered(s *Site) (n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, es := range s.sites {
		n += es.rows.renders.Load()
	}
	return n
}

// SetTrusteeWorkFactor sets the scrypt work factor of the keystores the
// trustee page makes (tests only: the default takes seconds).
func SetTrusteeWorkFactor(wf int) { trusteeWorkFactor = wf }

// MailAddr names a member's address in the mailings table.
var MailAddr = mailAddr

// When writes a time as pages and letters do.
func When(lang string, t time.Time) string { return when(lang, t) }
