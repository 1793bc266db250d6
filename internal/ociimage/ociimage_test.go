package ociimage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample(t *testing.T, created time.Time) ([]byte, Image) {
	t.Helper()
	files := []File{
		{Path: "/usr/local/bin/tool", Mode: 0o755, Data: []byte("#!binary")},
		{Path: "/data", Dir: true, Mode: 0o700, UID: 65532, GID: 65532},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
	cfg := Config{OS: "linux", Arch: "amd64", User: "65532:65532", Entrypoint: []string{"/usr/local/bin/tool"}, Volumes: []string{"/data"}, Created: created}
	var buf bytes.Buffer
	img, err := Write(&buf, files, cfg, "tool:1")
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), img
}

// The same input gives the same bytes; another time stamp another digest;
// Unpack gives back the files, parents included, and the configuration.
func TestWriteUnpack(t *testing.T) {
	a, ia := sample(t, time.Unix(0, 0))
	b, ib := sample(t, time.Unix(0, 0))
	if !bytes.Equal(a, b) || ia != ib {
		t.Fatal("two writes differ")
	}
	if _, ic := sample(t, time.Unix(1, 0)); ic.Manifest == ia.Manifest {
		t.Fatal("the time stamp is not in the image")
	}
	dir := t.TempDir()
	cfg, err := Unpack(bytes.NewReader(a), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || cfg.Entrypoint[0] != "/usr/local/bin/tool" || cfg.Volumes[0] != "/data" {
		t.Fatalf("configuration %+v", cfg)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "usr/local/bin/tool")); string(got) != "#!binary" {
		t.Fatalf("file %q", got)
	}
	for p, mode := range map[string]os.FileMode{"usr/local/bin/tool": 0o755, "data": 0o700, "usr/local": 0o755} {
		if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, mode)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "tmp")); st.Mode()&os.ModeSticky == 0 {
		t.Error("/tmp is not sticky")
	}
}

// A blob changed after writing is refused by its digest.
func TestUnpackChecksDigests(t *testing.T) {
	a, img := sample(t, time.Unix(0, 0))
	// The configuration blob holds the user: change it in place.
	i := bytes.Index(a, []byte(`"User":"65532:65532"`))
	if i < 0 {
		t.Fatal("no user in the configuration")
	}
	bad := bytes.Clone(a)
	copy(bad[i:], `"User":"00000:00000"`)
	_, err := Unpack(bytes.NewReader(bad), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("a tampered configuration %s: %v", img.Config, err)
	}
}
