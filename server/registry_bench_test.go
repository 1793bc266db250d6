package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/credauth"
	"github.com/scrutin/scrutin/roll"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// smallLog makes the entries of a small election whose log key seed is
// seed: one trustee, one yes/no question, voters members of whom ballots
// vote, and, if decide, closed, tallied, decrypted and decided.
func smallLog(seed []byte, voters, ballots int, decide bool) (entries [][]byte, err error) {
	type failure struct{ error }
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			err = f.error
		}
	}()
	fail := func(err error) {
		if err != nil {
			panic(failure{err})
		}
	}
	var csvb bytes.Buffer
	csvb.WriteString("member_id,name,email,status\n")
	for i := range voters {
		fmt.Fprintf(&csvb, "M%d,Member %d,m%d@example.org,active\n", i, i, i)
	}
	rl, _, _, err := roll.Import(&csvb, roll.Mapping{ID: "member_id", Name: "name", Email: "email", Status: "status"}, roll.Rules{Statuses: []string{"active"}}, time.Now(), nil)
	fail(err)
	id, err := crypto.NewCeremonyID(nil)
	fail(err)
	secrets, err := crypto.NewTrusteeSecrets(nil)
	fail(err)
	roster := crypto.Roster{Label: "bench", ID: id, Threshold: 1, Trustees: []crypto.Trustee{{Name: "T", Signing: secrets.Signing.PublicKey(), Encryption: secrets.Encryption.PublicKey()}}}
	t := func(s string) election.Text { return election.Text{"en": s, "fr": s} }
	m := &election.Manifest{
		Contests:    []election.Contest{{ID: "motion", Min: 0, Max: 1, Title: t("Adopt the motion?"), Options: []election.Option{{ID: "yes", Title: t("Yes")}, {ID: "no", Title: t("No")}}}},
		LogKey:      election.Bytes(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)),
		Roster:      roster,
		Title:       t("A small election"),
		Description: t("A small election, for benchmarks."),
		Window:      election.Window{Opens: "2027-03-01T09:00:00Z", Closes: "2099-03-08T18:00:00Z"},
	}
	f, err := m.Fingerprint()
	fail(err)
	s := election.New()
	add := func(e []byte) {
		fail(s.Apply(e))
		entries = append(entries, e)
	}
	me, err := m.Entry()
	fail(err)
	add(me)
	d, err := crypto.Deal(nil, &m.Roster, 1, secrets)
	fail(err)
	add(append([]byte{election.TypeCeremony}, d...))
	c, err := crypto.Complain(nil, &m.Roster, 1, secrets, [][]byte{d})
	fail(err)
	add(append([]byte{election.TypeCeremony}, c...))
	share, err := s.Ceremony.Share(&m.Roster, 1, secrets)
	fail(err)
	cf, err := s.Ceremony.Confirm(nil, &m.Roster, 1, secrets, share)
	fail(err)
	add(append([]byte{election.TypeCeremony}, cf...))
	salt := make([]byte, 32)
	rand.Read(salt)
	add((&election.Roll{Commitment: rl.Commitment(salt), Voters: len(rl.Members)}).Entry())
	issued, err := credauth.Generate(rl, f, nil)
	fail(err)
	for _, e := range credauth.Entries(issued, m.Groups()) {
		add(e)
	}
	add((&election.Open{At: election.Now(time.Now())}).Entry())
	view, err := s.Voter()
	fail(err)
	for i := range ballots {
		k, err := election.CredentialKey(f, issued[i].Code)
		fail(err)
		b, err := view.NewBallot(nil, k, [][]int{{i % 2}})
		fail(err)
		add(b)
	}
	if !decide {
		return entries, nil
	}
	add((&election.Close{At: election.Now(time.Now()), Reason: "bench"}).Entry())
	tally, err := s.ExpectedTally()
	fail(err)
	add(tally)
	msg, err := s.Ceremony.DecryptShare(nil, &m.Roster, 1, secrets, share, s.TallyCiphertexts())
	fail(err)
	add(append([]byte{election.TypeDecryption}, msg...))
	res, err := s.ExpectedResult()
	fail(err)
	add(res)
	return entries, nil
}

// benchElections makes (once, kept in the temporary folder across runs) a
// data folder holding n small elections of 10 voters, 3 ballots each,
// active of them voting and the rest decided, as a server leaves it: every
// summary saved, every checkpoint file written.
func benchElections(b *testing.B, n, active int) (dir string, master []byte) {
	dir = filepath.Join(os.TempDir(), fmt.Sprintf("scrutin-bench-elections-v1-%d-%d", n, active))
	if master, err := os.ReadFile(filepath.Join(dir, "ready")); err == nil {
		return dir, master
	}
	b.Logf("making %d elections in %s (once)", n, dir)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	master = masterSeed()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	ids := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range ids {
				if b.Failed() {
					continue
				}
				id := fmt.Sprintf("e%04d", i)
				entries, err := smallLog(server.LogSeed(master, id, false), 10, 3, i >= active)
				if err != nil {
					b.Error(err)
					continue
				}
				if err := db.Create(ctx, id, nil); err != nil {
					b.Error(err)
					continue
				}
				st, err := db.Log(ctx, id)
				if err != nil {
					b.Error(err)
					continue
				}
				_, err = st.Append(ctx, entries)
				st.Close()
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	// A first start replays every log, saves the summaries, and (by the
	// operator's choice, as no checkpoint files exist yet) writes the
	// checkpoint files.
	r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: db, MasterSeed: master, CheckpointDir: filepath.Join(dir, server.CheckpointDir), AcceptRollback: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range r.List() {
		if s.Failed != "" {
			b.Fatalf("election %s failed: %s", s.ID, s.Failed)
		}
	}
	r.Close()
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, "ready"), master, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir, master
}

// BenchmarkStart1000Elections: the start of a server holding 1,000 small
// elections (10 voters each), 950 of them decided: the catalogue is read,
// the 50 being voted on are replayed, the decided ones only listed from
// their summaries. It reports the heap in use once started.
func BenchmarkStart1000Elections(b *testing.B) {
	dir, master := benchElections(b, 1000, 50)
	ctx := context.Background()
	var before, after runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		db, err := store.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: db, MasterSeed: master, CheckpointDir: filepath.Join(dir, server.CheckpointDir)})
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			b.Errorf("the server took %v to start; want under 5 s", d)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := server.Replays(r); n != 50 {
			b.Fatalf("%d logs replayed at start; want 50", n)
		}
		if l := r.List(); len(l) != 1000 {
			b.Fatalf("%d elections listed", len(l))
		}
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-MB")
		r.Close()
		db.Close()
	}
}

// BenchmarkStart1000ElectionsNoSummaries: the same server's first start
// without its summaries (as after an upgrade from before them): every log
// is replayed once, and the decided ones unloaded after.
func BenchmarkStart1000ElectionsNoSummaries(b *testing.B) {
	src, master := benchElections(b, 1000, 50)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		for _, f := range []string{store.SQLiteFile} {
			data, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				b.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), data, 0o600)
		}
		db, err := store.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		infos, err := db.Elections(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range infos {
			if err := db.SaveSummary(ctx, in.ID, 0, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: db, MasterSeed: master})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := server.Replays(r); n != 1000 {
			b.Fatalf("%d logs replayed", n)
		}
		r.Close()
		db.Close()
		b.StartTimer()
	}
}
