package web

// Inflations is how many times the site inflated the WebAssembly module.
func Inflations(s *Site) int64 { return s.wasm.inflations.Load() }

// EntriesRead is how many log entries the list of ballots read.
func EntriesRead(s *Site) int64 { return s.rows.reads.Load() }

// TablesRendered is how many tables of ballots the site rendered.
func TablesRendered(s *Site) int64 { return s.rows.renders.Load() }
