package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeLegacyFolderCheckpointDir: a single-election folder served with
// --checkpoint-dir elsewhere: its checkpoint file moves to that folder's
// main (it was moved to DIR/checkpoints/main, where nothing reads it, and
// the server refused election main as rolled back, its checkpoint
// "missing"). "voters import" before leaves the checkpoint file for serve.
func TestServeLegacyFolderCheckpointDir(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	src := "../../testdata/legacy/voting"
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600)
	}
	// An operator's command on the folder before serve (it moves the
	// legacy files of the sign-in list).
	runScrutin(t, bin, "voters", "erase", "--dir", dir, "--election", "other")
	cp := filepath.Join(t.TempDir(), "cp")
	url, stop := startServeURL(t, bin, "--dir", dir, "--sign-in", "off", "--checkpoint-dir", cp)
	defer stop()
	if st, body := getURL(t, url+"/api/e/main/election"); st != 200 || !strings.Contains(body, `"phase":"voting"`) {
		t.Fatalf("main: %d %s", st, body)
	}
	if _, err := os.Stat(filepath.Join(cp, "main")); err != nil {
		t.Fatal(err)
	}
}
