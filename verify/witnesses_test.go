package verify

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
)

// TestManifestWitnesses: a manifest that names witnesses and a quorum
// makes the verifier require that quorum of them on the checkpoint, with
// no witness given on the command line, and in addition to those given
// (spec §18.3, §19 step 2).
func TestManifestWitnesses(t *testing.T) {
	r := demoRecord(t)
	m, err := election.ParseManifest(r.entries[0][1:])
	if err != nil {
		t.Fatal(err)
	}
	var signers []*board.Cosigner
	var vs []note.Verifier
	for i, name := range []string{"witness.example/a", "witness.example/b", "witness.example/reader"} {
		skey, vkey, err := board.GenerateCosigner(mrand.NewChaCha8([32]byte{byte(i + 1)}), name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := board.NewCosigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := board.NewWitnessVerifier(vkey)
		signers, vs = append(signers, s), append(vs, v)
		if i < 2 {
			m.Witnesses = append(m.Witnesses, election.Witness{Key: vkey, URL: "https://witness.example/" + name[len(name)-1:]})
		}
	}
	m.WitnessQuorum = 2
	e, err := m.Entry()
	if err != nil {
		t.Fatal(err)
	}
	f := board.Fingerprint(e)
	files := r.forge(t, [][]byte{e})
	signed := files.Files[board.CheckpointFile]
	cosigned := func(ss ...*board.Cosigner) *board.MemFiles {
		out := &board.MemFiles{Files: map[string][]byte{}}
		for k, v := range files.Files {
			out.Files[k] = v
		}
		text := signed[:bytes.Index(signed, []byte("\n\n"))+1]
		c := bytes.Clone(signed)
		for _, s := range ss {
			line, err := note.Sign(&note.Note{Text: string(text)}, s)
			if err != nil {
				t.Fatal(err)
			}
			c = append(c, line[len(text)+1:]...)
		}
		out.Files[board.CheckpointFile] = c
		return out
	}
	run := func(files *board.MemFiles, o Options) *Report {
		t.Helper()
		o.Election, o.Workers = &f, 2
		rep, err := Record(ctx, files, o)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(cosigned(), Options{}); rep.OK {
		t.Error("a checkpoint no witness of the manifest cosigned verified")
	}
	if rep := run(cosigned(signers[0]), Options{}); rep.OK {
		t.Error("one of the manifest's two required witnesses was enough")
	}
	if rep := run(cosigned(signers[0], signers[1]), Options{}); !rep.OK {
		t.Errorf("both of the manifest's witnesses: %+v", rep.Failures)
	}
	// The reader's witnesses add to the manifest's, never replace them.
	if rep := run(cosigned(signers[2]), Options{Witnesses: vs[2:], Quorum: 1}); rep.OK {
		t.Error("a reader's witness replaced the manifest's")
	}
	if rep := run(cosigned(signers[0], signers[1]), Options{Witnesses: vs[2:], Quorum: 1}); rep.OK {
		t.Error("the reader's witness was not required")
	}
	if rep := run(cosigned(signers[0], signers[1], signers[2]), Options{Witnesses: vs[2:], Quorum: 1}); !rep.OK {
		t.Errorf("all three: %+v", rep.Failures)
	}
	// Freshness applies to the manifest's witnesses too.
	old := time.Now().Add(-48 * time.Hour)
	for _, s := range signers {
		s.Now = func() time.Time { return old }
	}
	stale := cosigned(signers[0], signers[1])
	if rep := run(stale, Options{Fresh: board.Freshness{MaxAge: 24 * time.Hour}}); rep.OK {
		t.Error("stale cosignatures of the manifest's witnesses counted under a 24-hour bound")
	}
	if rep := run(stale, Options{}); !rep.OK {
		t.Errorf("an archived record (no bound): %+v", rep.Failures)
	}
}

// TestFreshnessOfADecidedRecord: the freshness bound guards a reader
// against a stale view of a live election; a record that holds its result
// cannot be extended validly (the result is the last entry, spec §18.1), so
// old cosignatures of it count whatever the bound (spec §16.2), while those
// of a record still in voting do not.
func TestFreshnessOfADecidedRecord(t *testing.T) {
	r := demoRecord(t)
	skey, vkey, err := board.GenerateCosigner(mrand.NewChaCha8([32]byte{7}), "witness.example/old")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := board.NewCosigner(skey)
	s.Now = func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }
	v, _ := board.NewWitnessVerifier(vkey)
	cosign := func(files *board.MemFiles) *board.MemFiles {
		out := &board.MemFiles{Files: map[string][]byte{}}
		for k, b := range files.Files {
			out.Files[k] = b
		}
		signed := files.Files[board.CheckpointFile]
		text := signed[:bytes.Index(signed, []byte("\n\n"))+1]
		line, err := note.Sign(&note.Note{Text: string(text)}, s)
		if err != nil {
			t.Fatal(err)
		}
		out.Files[board.CheckpointFile] = append(bytes.Clone(signed), line[len(text)+1:]...)
		return out
	}
	o := Options{Election: &r.f, Workers: 2, Witnesses: []note.Verifier{v}, Quorum: 1, Fresh: board.Freshness{MaxAge: 24 * time.Hour}}
	rep, err := Record(ctx, cosign(r.files), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || !rep.Decided {
		t.Errorf("a decided record cosigned a month ago, under a 24-hour bound: ok %v, %+v", rep.OK, rep.Failures)
	}
	n := 0
	for i, e := range r.entries {
		if e[0] == election.TypeOpen {
			n = i + 2 // and a ballot
			break
		}
	}
	rep, err = Record(ctx, cosign(r.forge(t, r.entries[:n])), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Errorf("a record in voting (phase %s) cosigned a month ago counted under a 24-hour bound", rep.Phase)
	}
	o.Fresh = board.Freshness{}
	if rep, _ = Record(ctx, cosign(r.forge(t, r.entries[:n])), o); !rep.OK {
		t.Errorf("with no bound: %+v", rep.Failures)
	}
}
