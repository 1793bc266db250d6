package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/verify"
)

// TestReportWithoutResult (spec §19): a valid record without a result is
// "VALID so far", with its phase, and says there is no result to check.
func TestReportWithoutResult(t *testing.T) {
	var b bytes.Buffer
	printReport(&b, &verify.Report{OK: true, Phase: "voting", Failures: []verify.Failure{}}, true)
	if !strings.Contains(b.String(), "VALID so far") || !strings.Contains(b.String(), "not decided yet (phase voting)") {
		t.Fatalf("report of an undecided record:\n%s", b.String())
	}
	b.Reset()
	printReport(&b, &verify.Report{OK: true, Phase: "decided", Decided: true, Failures: []verify.Failure{}}, true)
	if !strings.Contains(b.String(), "VALID: every check passed") || strings.Contains(b.String(), "so far") {
		t.Fatalf("report of a decided record:\n%s", b.String())
	}
}
