package vectors

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/v0 from the generator")

const dir = "../../testdata/v0"

// TestVectorsUpToDate regenerates the vectors and requires the committed
// files to be identical (the generator is deterministic), then checks every
// case. Run with -update to rewrite them after a deliberate change.
func TestVectorsUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generate()
	for _, name := range Files {
		if !bytes.Equal(files[name], again[name]) {
			t.Fatalf("%s: the generator is not deterministic", name)
		}
		path := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, files[name], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s differs from the generator's output: run go test ./internal/vectors -run TestVectorsUpToDate -update and review the diff", path)
		}
	}
	n, err := Check(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cases checked", n)
}

// TestRFC9496KnownAnswer ties the vectors to RFC 9496 §A.1 (multiples of
// the generator), which is independent of this code base.
func TestRFC9496KnownAnswer(t *testing.T) {
	var f GroupFile
	data, err := os.ReadFile(filepath.Join(dir, "group.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := strictUnmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	rfc := map[uint64]string{
		1: "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
		2: "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
		3: "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
	}
	seen := 0
	for _, m := range f.Multiples {
		if want, ok := rfc[m.K]; ok {
			seen++
			if hex.EncodeToString(m.Element) != want {
				t.Errorf("%d·G = %x, RFC 9496 says %s", m.K, m.Element, want)
			}
		}
	}
	if seen != len(rfc) {
		t.Fatalf("only %d RFC multiples found", seen)
	}
}

// TestCheckerRejectsWrongVectors makes sure the checker can fail: a valid
// case marked invalid, and an invalid one marked valid, are both reported.
func TestCheckerRejectsWrongVectors(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"selection.json", "signature.json", "knowledge.json"} {
		var f ProofFile
		if err := strictUnmarshal(files[name], &f); err != nil {
			t.Fatal(err)
		}
		for _, flip := range []int{0, len(f.Cases) - 1} {
			c := f.Cases[flip]
			c.Valid = !c.Valid
			if err := checkProofCase(name, &c); err == nil {
				t.Errorf("%s case %d with its verdict flipped passed the checker", name, flip)
			}
		}
		c := f.Cases[0]
		c.Challenge = append([]byte(nil), c.Challenge...)
		c.Challenge[0] ^= 1
		if err := checkProofCase(name, &c); err == nil {
			t.Errorf("%s: wrong recorded challenge passed the checker", name)
		}
	}
}

// TestRecordCheckerCanFail: a record case with its verdict flipped, its
// reason changed or its invalid entry moved is reported by the checker
// (each case gets one of these edits).
func TestRecordCheckerCanFail(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	var f RecordFile
	if err := strictUnmarshal(files["records.json"], &f); err != nil {
		t.Fatal(err)
	}
	if n, err := checkRecords(&f); err != nil || n != len(f.Cases) {
		t.Fatalf("%d cases: %v", n, err)
	}
	for i, c := range f.Cases {
		edits := []func(c *RecordCase){
			func(c *RecordCase) { c.Valid = !c.Valid },
			func(c *RecordCase) { c.Decided = !c.Decided },
		}
		if len(c.Invalid) > 0 {
			edits = append(edits,
				func(c *RecordCase) { c.Invalid[0].Entry++ },
				func(c *RecordCase) {
					c.Invalid[0].Error = map[string]string{KindEncoding: KindOrder, KindOrder: KindContent, KindContent: KindEncoding}[c.Invalid[0].Error]
				})
		}
		// One edit per case, in turn, to keep the test short (each check
		// replays a whole record).
		k := i % len(edits)
		for _, edit := range edits[k : k+1] {
			one := RecordFile{Log: f.Log, Cases: []RecordCase{c}}
			one.Cases[0].Invalid = slices.Clone(c.Invalid)
			edit(&one.Cases[0])
			if _, err := checkRecords(&one); err == nil {
				t.Errorf("case %d (%s), edit %d: the checker did not notice", i, c.Comment, k)
			}
		}
	}
}
