package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func versionCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("version", "[--json]", "Version prints the version of scrutin and of the Go toolchain that built it.")
	asJSON := fs.Bool("json", false, `print a JSON object {"version": ..., "go": ...}`)
	return fs, func(stdout, stderr io.Writer) int {
		if *asJSON {
			out := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
			}{moduleVersion(), runtime.Version()}
			return writeJSON("version", out, stdout, stderr)
		}
		fmt.Fprintf(stdout, "scrutin %s\nbuilt with %s for %s/%s\n", moduleVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	}
}

// moduleVersion is the main module's version recorded in the binary, or
// "(devel)" when there is none (go run, or a build without version control
// information).
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// writeJSON prints v as one line of JSON and returns the exit status.
func writeJSON(name string, v any, stdout, stderr io.Writer) int {
	if err := json.NewEncoder(stdout).Encode(v); err != nil {
		fmt.Fprintf(stderr, "scrutin %s: failed to write the output: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}
