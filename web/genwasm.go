//go:build ignore

// genwasm builds the booth and verifier module (./web/wasm) for the browser
// and writes static/scrutin.wasm.gz (and static/scrutin-trustee.wasm.gz, the
// same with the trustee page's functions) and static/wasm_exec.js, which the web
// package embeds. Run it with "go generate ./web" after changing anything the
// module is built from (crypto, board, election, verify, web/wasm); the web
// package's tests fail while the committed module is stale.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	tmp, err := os.MkdirTemp("", "scrutin-wasm-")
	check(err)
	defer os.RemoveAll(tmp)
	// Two builds of ./wasm: the booth and verifier, which every voter
	// downloads, and the same with the trustee page's functions (build tag
	// trustee: the keystore file's age encryption and the ceremony's
	// steps), which only trustees download.
	for _, m := range Modules {
		out := filepath.Join(tmp, m.Name)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-tags="+m.Tags, "-o", out, "./wasm")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		check(cmd.Run())
		raw, err := os.ReadFile(out)
		check(err)
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(raw)
		check(w.Close())
		check(os.WriteFile(filepath.Join("static", m.Name+".gz"), gz.Bytes(), 0o644))
		fmt.Printf("static/%s.gz: %d bytes (%d uncompressed)\n", m.Name, gz.Len(), len(raw))
	}

	root, err := exec.Command("go", "env", "GOROOT").Output()
	check(err)
	js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	check(err)
	check(os.WriteFile(filepath.Join("static", "wasm_exec.js"), js, 0o644))
	ver, err := exec.Command("go", "env", "GOVERSION").Output()
	check(err)
	check(os.WriteFile(filepath.Join("static", "scrutin.wasm.go-version"), ver, 0o644))
}

// Modules are the WebAssembly modules built from ./wasm, with their build
// tags (the web package's TestWasmUpToDate builds the same).
var Modules = []struct{ Name, Tags string }{
	{"scrutin.wasm", ""},
	{"scrutin-trustee.wasm", "trustee"},
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "genwasm:", err)
		os.Exit(1)
	}
}
