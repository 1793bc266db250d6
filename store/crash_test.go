package store

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashElections are the elections TestCrashChild appends to.
var crashElections = []string{"test", "other"}

// TestCrashChild is the child process of TestCrashSafety: it appends from
// 8 goroutines (half of them to each of two elections) until it is killed,
// printing "ack <election> <index> <sha256>" after each append is
// acknowledged.
func TestCrashChild(t *testing.T) {
	loc := os.Getenv("SCRUTIN_CRASH_CHILD")
	if loc == "" {
		t.Skip("run as a child by TestCrashSafety")
	}
	db, err := Open(ctx, loc)
	logs := make([]Store, len(crashElections))
	for i, id := range crashElections {
		if err == nil {
			if err = db.Create(ctx, id, nil); errors.Is(err, ErrExists) {
				err = nil
			}
		}
		if err == nil {
			logs[i], err = db.Log(ctx, id)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	round := os.Getenv("SCRUTIN_CRASH_ROUND")
	var mu sync.Mutex
	for g := range 8 {
		go func() {
			id, s := crashElections[g%2], logs[g%2]
			r := mrand.New(mrand.NewPCG(uint64(g), uint64(len(round))))
			for k := 0; ; k++ {
				e := []byte(fmt.Sprintf("%s round %s goroutine %d append %d %s", id, round, g, k, strings.Repeat("x", r.IntN(300))))
				i, err := s.Append(ctx, [][]byte{e})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %d %x\n", id, i, sha256.Sum256(e))
				mu.Unlock()
			}
		}()
	}
	select {}
}

// acks are the acknowledged entries' hashes, by election and index.
type acks map[string]map[int64]string

func newAcks() acks {
	a := make(acks)
	for _, id := range crashElections {
		a[id] = make(map[int64]string)
	}
	return a
}

func (a acks) count() int { return len(a["test"]) + len(a["other"]) }

// checkAcked checks every election's log in db after a crash: its tree is
// the tree of its entries, every acknowledged entry is in place, and no
// entry is there twice or belongs to the other election. It returns the
// number of entries stored.
func checkAcked(t *testing.T, db *DB, acked acks) int64 {
	t.Helper()
	var total int64
	for _, id := range crashElections {
		s, err := db.Log(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		n := checkAgainstMemory(t, s)
		all, err := s.ReadEntries(ctx, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		seen := make(map[string]bool)
		for i, e := range all {
			h := fmt.Sprintf("%x", sha256.Sum256(e))
			if seen[h] {
				t.Fatalf("%s: entry %d is a duplicate", id, i)
			}
			seen[h] = true
			if !strings.HasPrefix(string(e), id+" ") {
				t.Fatalf("%s: entry %d belongs to another election: %.20q", id, i, e)
			}
			if a, ok := acked[id][int64(i)]; ok && a != h {
				t.Fatalf("%s: index %d holds another entry than the one acknowledged", id, i)
			}
		}
		for i := range acked[id] {
			if i >= n {
				t.Fatalf("%s: acknowledged entry %d is lost (size %d)", id, i, n)
			}
		}
		total += n
	}
	return total
}

// TestCrashSafety kills a child process that appends from many goroutines
// to two elections with SIGKILL at random moments, then reopens the
// database and checks each log: every acknowledged entry is there exactly
// once, at its index, in its election's log only, there is no duplicate,
// and the stored tree is the tree of the entries.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			acked := newAcks()
			r := mrand.New(mrand.NewPCG(1, 2))
			for round := range 6 {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), "SCRUTIN_CRASH_CHILD="+loc, fmt.Sprintf("SCRUTIN_CRASH_ROUND=%d", round))
				var stderr strings.Builder
				cmd.Stderr = &stderr
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := make(chan string, 1<<16)
				go func() {
					sc := bufio.NewScanner(stdout)
					for sc.Scan() {
						lines <- sc.Text()
					}
					close(lines)
				}()
				// Let it run until it has acknowledged some appends, then a
				// random while longer, and kill it.
				deadline := time.After(20 * time.Second)
				got := 0
				for got < 20 {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("child exited early: %s", stderr.String())
						}
						record(t, acked, l)
						got++
					case <-deadline:
						t.Fatalf("child acknowledged only %d appends in 20 s: %s", got, stderr.String())
					}
				}
				time.Sleep(time.Duration(50+r.IntN(400)) * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				for l := range lines {
					record(t, acked, l)
				}

				db, err := Open(ctx, loc)
				if err != nil {
					t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
				}
				n := checkAcked(t, db, acked)
				db.Close()
				t.Logf("round %d: %d entries, %d acknowledged so far", round, n, acked.count())
			}
		})
	}
}

func record(t *testing.T, acked acks, line string) {
	var id, h string
	var i int64
	if _, err := fmt.Sscanf(line, "ack %s %d %s", &id, &i, &h); err != nil || acked[id] == nil {
		return // the test framework's own output
	}
	if prev, dup := acked[id][i]; dup && prev != h {
		t.Fatalf("%s: index %d acknowledged for two entries", id, i)
	}
	acked[id][i] = h
}

// TestSeveralProcesses runs three processes appending at once to two
// elections of one PostgreSQL database (each with 8 goroutines), kills
// them, and checks each log: no gap, no duplicate, no fork, every
// acknowledged entry in place.
func TestSeveralProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	loc := postgresLocation(t)
	acked := newAcks()
	var mu sync.Mutex
	var cmds []*exec.Cmd
	var wg sync.WaitGroup
	for p := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SCRUTIN_CRASH_CHILD="+loc, fmt.Sprintf("SCRUTIN_CRASH_ROUND=p%d", p))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				mu.Lock()
				record(t, acked, sc.Text())
				mu.Unlock()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, cmd := range cmds {
		cmd.Wait()
	}
	wg.Wait()
	n := checkAcked(t, mustOpenDB(t, loc), acked)
	if int64(acked.count()) > n || acked.count() < 100 {
		t.Fatalf("%d acknowledged, %d stored", acked.count(), n)
	}
	t.Logf("3 processes: %d entries, %d acknowledged", n, acked.count())
}
