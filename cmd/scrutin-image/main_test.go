package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/scrutin/scrutin/internal/ociimage"
)

// TestImageReproducible (issue 23): building the image twice from the same
// checkout gives the same file, hence the same digest; its binary is
// static (no program interpreter: it runs on the empty base) and runs as
// user 65532, with /data as its volume, owned by that user, mode 0700.
func TestImageReproducible(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	ia, err := build(a, "scrutin:test", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ib, err := build(b, "scrutin:test", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if ia != ib || !bytes.Equal(ba, bb) {
		t.Fatalf("two builds differ: %+v, %+v", ia, ib)
	}
	t.Logf("digest %s, %d bytes", ia.Manifest, len(ba))
	root := t.TempDir()
	cfg, err := ociimage.Unpack(bytes.NewReader(ba), root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || len(cfg.Volumes) != 1 || cfg.Volumes[0] != "/data" || cfg.Entrypoint[0] != "/usr/local/bin/scrutin" {
		t.Fatalf("configuration %+v", cfg)
	}
	f, err := elf.Open(filepath.Join(root, "usr/local/bin/scrutin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary needs a dynamic loader: not built with CGO_ENABLED=0")
		}
	}
	st, err := os.Stat(filepath.Join(root, "data"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("/data: %v %v", st.Mode(), err)
	}
	// Another time stamp is another image.
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	ic, err := build(filepath.Join(dir, "c.tar"), "scrutin:test", "amd64")
	if err != nil || ic.Manifest == ia.Manifest {
		t.Fatalf("SOURCE_DATE_EPOCH changed nothing: %+v %v", ic, err)
	}
}
