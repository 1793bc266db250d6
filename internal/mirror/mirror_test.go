package mirror

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestDirAndHTTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := Dir(dir)
	if err := d.WriteFile(ctx, "tile/0/x001/234", []byte("hashes")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	for _, r := range []interface {
		ReadFile(context.Context, string, int) ([]byte, error)
	}{d, For(srv.URL), For(srv.URL + "/")} {
		b, err := r.ReadFile(ctx, "tile/0/x001/234", 100)
		if err != nil || string(b) != "hashes" {
			t.Fatalf("%T: %q %v", r, b, err)
		}
		if _, err := r.ReadFile(ctx, "tile/0/x001/234", 3); err == nil {
			t.Fatalf("%T: size limit not enforced", r)
		}
		if _, err := r.ReadFile(ctx, "tile/0/missing", 100); err == nil {
			t.Fatalf("%T: missing file read", r)
		}
		for _, bad := range []string{"../etc/passwd", "/etc/passwd", "a/../../b", "", "a//b"} {
			if _, err := r.ReadFile(ctx, bad, 100); err == nil {
				t.Fatalf("%T: path %q accepted", r, bad)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tile/0/x001"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
