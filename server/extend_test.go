package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/verify"
)

// TestExtendVotingWindow (spec §18.7, issue 17): ballots are refused from
// the end in force on; an extension recorded before the end lets members
// vote after the planned end, until the new one; the server refuses an
// extension to an earlier end, without a reason, or once voting has ended;
// the verifier accepts the record and reports the window.
func TestExtendVotingWindow(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 17, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := f.Election
	planned, err := time.Parse(election.TimeFormat, f.Manifest.Window.Closes)
	if err != nil {
		t.Fatal(err)
	}
	now := planned.Add(-time.Hour)
	e.SetClock(func() time.Time { return now })
	cast := func(i int) error {
		t.Helper()
		var view *election.Election
		e.State(func(s *election.State) { view, _ = s.Voter() })
		k, err := election.CredentialKey(f.F, f.Codes[i])
		if err != nil {
			t.Fatal(err)
		}
		entry, err := view.NewBallot(nil, k, f.Choices(i, []int{0}, []int{}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Cast(ctx, entry)
		return err
	}
	if err := cast(0); err != nil {
		t.Fatalf("a ballot an hour before the end: %v", err)
	}
	now = planned
	if err := cast(1); !errors.Is(err, server.ErrEnded) || !errors.Is(err, server.ErrRefused) {
		t.Fatalf("a ballot at the planned end: %v, want ErrEnded", err)
	}
	now = planned.Add(-30 * time.Minute)
	if _, err := e.Extend(ctx, planned.Add(-time.Minute), "too early"); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("an extension to an earlier end: %v", err)
	}
	if _, err := e.Extend(ctx, planned.Add(24*time.Hour), ""); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("an extension without a reason: %v", err)
	}
	if _, err := e.Extend(ctx, planned.Add(8*24*time.Hour), "a week and a day"); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("an extension of more than 7 days: %v", err)
	}
	const reason = "The voting service was unreachable from 14:00 to 17:30."
	i, err := e.Extend(ctx, planned.Add(24*time.Hour), reason)
	if err != nil {
		t.Fatalf("an extension by a day, half an hour before the end: %v", err)
	}
	if got := e.Ends(); !got.Equal(planned.Add(24 * time.Hour)) {
		t.Fatalf("the end in force is %v after the extension", got)
	}
	now = planned.Add(2 * time.Hour)
	if err := cast(1); err != nil {
		t.Fatalf("a ballot two hours after the planned end, within the extension: %v", err)
	}
	now = planned.Add(24 * time.Hour)
	if err := cast(2); !errors.Is(err, server.ErrEnded) {
		t.Fatalf("a ballot at the extended end: %v, want ErrEnded", err)
	}
	if _, err := e.Extend(ctx, planned.Add(48*time.Hour), "too late"); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("an extension once voting has ended: %v", err)
	}
	if _, err := e.Append(ctx, (&election.Close{At: election.Now(now), Reason: "The extended voting period has ended."}).Entry()); err != nil {
		t.Fatal(err)
	}
	now = planned.Add(time.Hour)
	if _, err := e.Extend(ctx, planned.Add(48*time.Hour), "after the close"); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("an extension after the close: %v", err)
	}

	rep := verifyLog(t, f)
	if !rep.OK {
		t.Fatalf("the record with an extension does not verify: %+v", rep.Failures)
	}
	w := rep.Window
	if w == nil || len(w.Extensions) != 1 || w.Extensions[0].Entry != i || w.Extensions[0].Reason != reason ||
		w.Ends != election.Now(planned.Add(24*time.Hour)) || w.Planned != f.Manifest.Window.Closes || w.Early || w.Closed == "" {
		t.Fatalf("the verifier reports the window %+v", w)
	}
	if rep.Ballots != 2 {
		t.Fatalf("the verifier counts %d ballots, want 2", rep.Ballots)
	}
}

// verifyLog verifies the fixture's stored log with package verify, under a
// checkpoint signed with the log key.
func verifyLog(t *testing.T, f *demo.Fixture) *verify.Report {
	t.Helper()
	files := publish(t, f, nil, nil)
	rep, err := verify.Record(context.Background(), files, verify.Options{Election: &f.F, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// publish publishes the fixture's log (with edit applied to its entries,
// if given, as a dishonest operator holding the log key would) under a
// checkpoint signed by signer (nil: the log key).
func publish(t *testing.T, f *demo.Fixture, edit func(entries [][]byte) [][]byte, signer note.Signer) *board.MemFiles {
	t.Helper()
	ctx := context.Background()
	n, err := f.Store.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		entries = edit(entries)
	}
	mem := &board.MemStorage{}
	if _, err := mem.Append(ctx, entries); err != nil {
		t.Fatal(err)
	}
	size := int64(len(entries))
	h, err := board.TreeHash(ctx, mem, size)
	if err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		if signer, err = election.LogSigner(f.F, f.LogSeed()); err != nil {
			t.Fatal(err)
		}
	}
	c := board.Checkpoint{Origin: board.Origin(f.F), Size: size, Hash: h}
	signed, err := board.Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	files := &board.MemFiles{}
	if err := board.Publish(ctx, mem, 0, c, signed, files); err != nil {
		t.Fatal(err)
	}
	return files
}

// TestVerifierRejectsTamperedExtension (spec §18.7, §19): an extension
// changed after the fact is caught: its end moved earlier or its reason
// removed makes the entry invalid even under a checkpoint re-signed with
// the log key; any change under the original checkpoint breaks the tree;
// a change re-signed with the log key is caught against an earlier
// checkpoint (a voter's receipt, a witness's); and a checkpoint signed by
// any key but the log key is refused.
func TestVerifierRejectsTamperedExtension(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 18, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := f.Election
	planned, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Closes)
	e.SetClock(func() time.Time { return planned.Add(-time.Hour) })
	const reason = "The voting service was unreachable."
	at, err := e.Extend(ctx, planned.Add(24*time.Hour), reason)
	if err != nil {
		t.Fatal(err)
	}
	honest := verifyLog(t, f)
	if !honest.OK {
		t.Fatalf("the honest record: %+v", honest.Failures)
	}
	replace := func(old, new string) func([][]byte) [][]byte {
		return func(es [][]byte) [][]byte {
			out := append([][]byte(nil), es...)
			s := string(out[at])
			if !strings.Contains(s, old) {
				t.Fatalf("%q is not in the extension %s", old, s)
			}
			out[at] = []byte(strings.Replace(s, old, new, 1))
			return out
		}
	}
	check := func(name string, files *board.MemFiles, o verify.Options, want string) {
		t.Helper()
		o.Election, o.Workers = &f.F, 2
		rep, err := verify.Record(ctx, files, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK {
			t.Errorf("%s: the verifier accepts the record", name)
			return
		}
		if !strings.Contains(fmt.Sprint(rep.Failures), want) {
			t.Errorf("%s: the verifier says %+v, not %q", name, rep.Failures, want)
		}
	}
	newEnd := election.Now(planned.Add(24 * time.Hour))
	check("the end moved before the planned end, re-signed", publish(t, f, replace(newEnd, election.Now(planned.Add(-time.Minute))), nil), verify.Options{}, "not later than the end in force")
	check("the end moved beyond 7 days, re-signed", publish(t, f, replace(newEnd, election.Now(planned.Add(8*24*time.Hour))), nil), verify.Options{}, "more than 7 days")
	check("the reason removed, re-signed", publish(t, f, replace(`"reason":"`+reason+`"`, `"reason":""`), nil), verify.Options{}, "extension")
	// Another reason, re-signed: a valid record on its own, which is not
	// the one the earlier checkpoint committed to.
	check("another reason, re-signed, against the earlier checkpoint", publish(t, f, replace(reason, "Nothing happened."), nil), verify.Options{Previous: honest.Checkpoint}, "log")
	// Another reason under the original checkpoint: the tree differs.
	{
		files := publish(t, f, replace(reason, "Nothing happened."), nil)
		orig := publish(t, f, nil, nil)
		cp, _ := orig.ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
		if err := files.WriteFile(ctx, board.CheckpointFile, cp); err != nil {
			t.Fatal(err)
		}
		check("another reason under the original checkpoint", files, verify.Options{}, "log")
	}
	// A checkpoint of the honest log signed by another key, under the
	// log key's name.
	{
		origin := board.Origin(f.F)
		skey, _, err := note.GenerateKey(nil, origin)
		if err != nil {
			t.Fatal(err)
		}
		other, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		check("a checkpoint signed by another key", publish(t, f, nil, other), verify.Options{}, "log")
	}
}
