package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/server"
)

// needTool returns the path of a program the interoperability tests run,
// or skips the test (fails it under SCRUTIN_REQUIRE_TOOLS, as .ci/run
// sets, which installs them).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SCRUTIN_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed (.ci/run installs it)", name)
	}
	return p
}

// freeAddr returns a loopback address nothing listens on, for a program
// that takes its address as a flag.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(t *testing.T, addr string, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("%s does not listen on %s:\n%s", cmd.Path, addr, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startLitewitness runs litewitness (filippo.io/torchwood, installed by
// .ci/run at a pinned version) for one log, with a new key in a dedicated
// ssh-agent, as its README says, and returns its address and its verifier
// key, as litewitness itself prints it.
func startLitewitness(t *testing.T, name, logVkey string) (url, vkey string) {
	lw := needTool(t, "litewitness")
	keygen, agent, add := needTool(t, "ssh-keygen"), needTool(t, "ssh-agent"), needTool(t, "ssh-add")
	dir, err := os.MkdirTemp("", "lw") // short: a socket's path is at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	key := filepath.Join(dir, "key")
	run(nil, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key)
	sock := filepath.Join(dir, "agent.sock")
	ag := exec.Command(agent, "-D", "-a", sock)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Process.Kill(); ag.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ssh-agent did not start")
		}
	}
	run([]string{"SSH_AUTH_SOCK=" + sock}, add, key)
	// litewitness's -key: the hex SHA-256 of the raw Ed25519 public key
	// (from the OpenSSH public key's wire form: its last 32 bytes).
	pubLine, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pubLine))
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 32 {
		t.Fatalf("ssh-keygen's public key: %q", pubLine)
	}
	fp := sha256.Sum256(blob[len(blob)-32:])
	db := filepath.Join(dir, "litewitness.db")
	origin, _, _ := strings.Cut(logVkey, "+")
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(lw, "-db", db, "-name", name, "-key", hex.EncodeToString(fp[:]), "-ssh-agent", sock, "-listen", addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, addr, cmd, &logs)
	// The log litewitness follows, and its key: with witnessctl (same
	// module) if installed, else with the two statements witnessctl
	// v0.6.1 runs (add-log, add-key), on the database litewitness made.
	if ctl, err := exec.LookPath("witnessctl"); err == nil {
		run(nil, ctl, "add-log", "-db", db, "-origin", origin)
		run(nil, ctl, "add-key", "-db", db, "-origin", origin, "-key", logVkey)
	} else {
		sqlite := needTool(t, "sqlite3")
		empty := sha256.Sum256(nil)
		q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
		run(nil, sqlite, db, "PRAGMA foreign_keys = ON; INSERT INTO log (origin, tree_size, tree_hash) VALUES ("+q(origin)+", 0, "+q(base64.StdEncoding.EncodeToString(empty[:]))+"); INSERT INTO key (origin, key) VALUES ("+q(origin)+", "+q(logVkey)+");")
	}
	m := regexp.MustCompile(`vkey=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("litewitness printed no verifier key:\n%s", logs.String())
	}
	return "http://" + addr, m[1]
}

// startScrutinWitness runs "scrutin witness serve" for one log, with a key
// "scrutin witness init" makes, and returns its address, its verifier key
// and its folder.
func startScrutinWitness(t *testing.T, bin, name, logVkey string) (url, vkey, dir string) {
	dir = filepath.Join(t.TempDir(), "witness")
	if r := runScrutin(t, bin, "witness", "init", "--name", name, "--dir", dir); r.status != 0 {
		t.Fatalf("witness init: %s", r.stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, witnessPubFile))
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "witness", "serve", "--dir", dir, "--listen", addr, "--log-key", logVkey)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, addr, cmd, &logs)
	return "http://" + addr, strings.TrimSpace(string(b)), dir
}

// TestLitewitnessInterop: an election's server pushes its checkpoints to
// litewitness (independent software, C2SP tlog-witness and cosignature/v1)
// and to "scrutin witness serve"; "scrutin verify --quorum 2" accepts the
// record with both, and refuses it when one of them is missing, when a
// cosignature is of another checkpoint, and for a fork, which both
// witnesses refuse to cosign (scrutin's keeping the evidence).
func TestLitewitnessInterop(t *testing.T) {
	needTool(t, "litewitness")
	bin := buildScrutin(t)
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	lwURL, lwKey := startLitewitness(t, "litewitness.example/w1", f.LogKey)
	swURL, swKey, swDir := startScrutinWitness(t, bin, "observers.example/w2", f.LogKey)
	var keys []server.Witness
	for _, w := range []string{lwKey + " " + lwURL, swKey + " " + swURL} {
		k, err := server.ParseWitness(w)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	f.Election.SetWitnessList(keys)
	done := make(chan struct{})
	defer close(done)
	f.Election.StartPushing(done, nil)
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	c, _, err := f.Election.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := 0
		for _, s := range f.Election.Witnesses() {
			if s.Size == c.Size && !s.Cosigned.IsZero() {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witnesses did not both cosign the checkpoint of %d entries: %+v", c.Size, f.Election.Witnesses())
		}
	}
	verifyWith := func(args ...string) (string, int) {
		fs, run := verifyCommand()
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code := run(&out, &out)
		return out.String(), code
	}
	fp := hex.EncodeToString(f.F[:])
	addr := base + "/e/" + f.ID
	if out, code := verifyWith("--election", fp, "--witness", lwKey, "--witness", swKey, "--quorum", "2", addr); code != exitOK {
		t.Fatalf("verify with litewitness and scrutin's witness: exit %d\n%s", code, out)
	}
	// A witness that did not cosign: a quorum of 2 is not met.
	_, otherKey, err := board.GenerateCosigner(bytes.NewReader(make([]byte, 64)), "observers.example/absent")
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range [][]string{{lwKey, otherKey}, {otherKey, swKey}} {
		if out, code := verifyWith("--election", fp, "--witness", ws[0], "--witness", ws[1], "--quorum", "2", addr); code == exitOK {
			t.Fatalf("verify accepted a quorum of 2 with one witness's cosignature (%s):\n%s", ws, out)
		}
	}
	// Too old: litewitness's cosignature is older than a one-second bound
	// two seconds later.
	time.Sleep(2 * time.Second)
	if out, code := verifyWith("--election", fp, "--witness", lwKey, "--witness", swKey, "--quorum", "2", "--max-age", "1s", addr); code == exitOK {
		t.Fatalf("verify accepted stale cosignatures:\n%s", out)
	}

	// A fork: the same election's log with its last entry replaced, signed
	// by the log key. Both witnesses refuse it (422); copied onto it, the
	// genuine cosignatures do not count.
	cosigned, err := (&mirror.HTTP{Base: addr + "/log"}).ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.Store.ReadEntries(ctx, 0, c.Size)
	if err != nil {
		t.Fatal(err)
	}
	mem := &board.MemStorage{}
	forged := append(append([][]byte(nil), entries[:c.Size-1]...), []byte("a forged last entry"))
	if _, err := mem.Append(ctx, forged); err != nil {
		t.Fatal(err)
	}
	fc, err := board.CurrentCheckpoint(ctx, mem, board.Origin(f.F))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := election.LogSigner(f.F, f.LogSeed())
	if err != nil {
		t.Fatal(err)
	}
	fsigned, err := board.Sign(fc, signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{lwURL, swURL} {
		body := board.AddCheckpoint{OldSize: c.Size, Checkpoint: fsigned}.Marshal()
		resp, err := http.Post(u+"/add-checkpoint", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s answered the fork with %s: %s", u, resp.Status, b)
		}
	}
	if ev, _ := filepath.Glob(filepath.Join(swDir, "evidence", "*", "new.checkpoint")); len(ev) != 1 {
		t.Errorf("scrutin's witness kept no evidence of the fork: %v", ev)
	} else if b, _ := os.ReadFile(ev[0]); !bytes.Equal(b, fsigned) {
		t.Error("the evidence is not the forked checkpoint")
	}
	forkDir := t.TempDir()
	if err := board.Publish(ctx, mem, 0, fc, fsigned, mirror.Dir(forkDir)); err != nil {
		t.Fatal(err)
	}
	_, lines, _ := strings.Cut(string(cosigned), "\n\n")
	var moved []byte
	moved = append(moved, fsigned...)
	sc := bufio.NewScanner(strings.NewReader(lines))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "— "+board.Origin(f.F)+" ") {
			moved = append(moved, sc.Text()+"\n"...)
		}
	}
	if err := os.WriteFile(filepath.Join(forkDir, board.CheckpointFile), moved, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := board.Open(moved, board.Origin(f.F), mustVerifier(t, f.LogKey), nil, 0); err != nil {
		t.Fatalf("the fork's checkpoint does not even open: %v", err)
	}
	out, code := verifyWith("--election", fp, "--witness", lwKey, "--witness", swKey, "--quorum", "1", forkDir)
	if code == exitOK || !strings.Contains(out, "cosigned by 0 witnesses") {
		t.Fatalf("verify accepted a fork with cosignatures of the genuine checkpoint: exit %d\n%s", code, out)
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
