package crypto

// The package comment promises that crypto does no I/O and imports only the
// standard library, the group library and golang.org/x/crypto, so that it
// compiles to WebAssembly and can be audited alone (STYLE.md points 3 and 12).
// These tests hold it to that.

import (
	"errors"
	"go/parser"
	"go/token"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// importsAllowedModules may appear, with their subpackages, among crypto's
// non-standard dependencies.
var importsAllowedModules = []string{
	"github.com/gtank/ristretto255",
	"filippo.io/edwards25519",
	"golang.org/x/crypto",
}

// importsIOPackages are standard packages that do I/O (or embed files), which no
// non-test file of crypto may import directly. crypto/rand, the one source of
// randomness, is allowed: every use of it can be replaced by an io.Reader.
var importsIOPackages = []string{
	"os", "os/exec", "os/signal", "os/user", "net", "net/http", "syscall", "syscall/js",
	"database/sql", "io/fs", "io/ioutil", "path/filepath", "log", "log/slog", "embed",
}

// TestImportsDependencies checks every non-standard package crypto depends
// on, transitively, on the host and on js/wasm (the voter's browser).
func TestImportsDependencies(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	files := importsOfSource(t)
	for _, env := range [][]string{nil, {"GOOS=js", "GOARCH=wasm"}} {
		self := importsGoList(t, goCmd, env, "-f", "{{.ImportPath}}")[0]
		deps := importsGoList(t, goCmd, env, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}")
		var graph map[string][]string
		for _, dep := range deps {
			if dep == self || importsAllowed(dep) {
				continue
			}
			// Name the chain of imports and the crypto file it starts in.
			if graph == nil {
				graph = importsGraph(t, goCmd, env)
			}
			chain := importsChain(graph, self, dep)
			var where []string
			if len(chain) > 1 {
				where = files[chain[1]]
			}
			t.Errorf("%s: crypto depends on %q, outside the standard library and %s (import chain %s, starting in %s)",
				importsEnvName(env), dep, strings.Join(importsAllowedModules, ", "), strings.Join(chain, " → "), strings.Join(where, ", "))
		}
	}
}

// TestImportsNoIO checks that no non-test file of crypto imports an I/O
// package directly, whatever its build constraints.
func TestImportsNoIO(t *testing.T) {
	files := importsOfSource(t)
	for _, path := range slices.Sorted(maps.Keys(files)) {
		if names := files[path]; slices.Contains(importsIOPackages, path) {
			t.Errorf("package %q is imported by %s: the crypto package does no I/O; take an io.Reader or return bytes instead",
				path, strings.Join(names, ", "))
		}
	}
}

func importsAllowed(path string) bool {
	for _, m := range importsAllowedModules {
		if path == m || strings.HasPrefix(path, m+"/") {
			return true
		}
	}
	return false
}

func importsEnvName(env []string) string {
	if env == nil {
		return "host"
	}
	return strings.Join(env, " ")
}

// importsGoList runs go list in this directory with the given extra environment and
// returns its non-empty output lines.
func importsGoList(t *testing.T, goCmd string, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(goCmd, append(append([]string{"list"}, args...), ".")...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list %s (%s): %v\n%s", strings.Join(args, " "), importsEnvName(env), err, ee.Stderr)
		}
		t.Fatalf("go list %s (%s): %v", strings.Join(args, " "), importsEnvName(env), err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("go list %s (%s) printed nothing", strings.Join(args, " "), importsEnvName(env))
	}
	return lines
}

// importsGraph maps each package crypto depends on to its imports.
func importsGraph(t *testing.T, goCmd string, env []string) map[string][]string {
	graph := make(map[string][]string)
	for _, l := range importsGoList(t, goCmd, env, "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`) {
		f := strings.Fields(l)
		graph[f[0]] = f[1:]
	}
	return graph
}

// importsChain returns the shortest chain of imports from one package to
// another, or just the two if there is none.
func importsChain(graph map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			chain := []string{to}
			for q := prev[to]; q != ""; q = prev[q] {
				chain = append([]string{q}, chain...)
			}
			return chain
		}
		for _, q := range graph[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, to}
}

// importsOfSource parses the imports of every non-test Go file of
// package crypto in this directory and returns, for each imported path, the
// files that import it.
func importsOfSource(t *testing.T) map[string][]string {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	imports := make(map[string][]string)
	fset := token.NewFileSet()
	parsed := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("failed to parse %s: %v", name, err)
		}
		if f.Name.Name != "crypto" {
			continue
		}
		parsed++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: bad import path %s: %v", name, imp.Path.Value, err)
			}
			imports[path] = append(imports[path], name)
		}
	}
	if parsed == 0 {
		t.Fatal("found no non-test Go files of package crypto")
	}
	return imports
}
