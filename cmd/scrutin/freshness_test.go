package main

import (
	"flag"
	"io"
	"testing"
	"time"
)

// TestWitnessFreshnessDefault: with no --max-age, a live server's address
// is read with the 24-hour bound and a folder (an archived record) with
// none; --max-age, 0 included, decides when given (spec §16.2).
func TestWitnessFreshnessDefault(t *testing.T) {
	for _, c := range []struct {
		args []string
		loc  string
		want time.Duration
	}{
		{nil, "https://vote.example.org/e/abc", defaultMaxAge},
		{nil, "http://127.0.0.1:8080/e/abc/log", defaultMaxAge},
		{nil, "record", 0},
		{nil, "/tmp/archive/log", 0},
		{[]string{"--max-age", "0"}, "https://vote.example.org/e/abc", 0},
		{[]string{"--max-age", "1h"}, "record", time.Hour},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		m := maxAgeFlag(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := freshnessFor(c.loc, *m).MaxAge; got != c.want {
			t.Errorf("%v %s: max age %v, want %v", c.args, c.loc, got, c.want)
		}
	}
}
