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

// TestCrashChild is the child process of TestCrashSafety: it appends from
// 8 goroutines until it is killed, printing "ack <index> <sha256>" after each
// append is acknowledged.
func TestCrashChild(t *testing.T) {
	loc := os.Getenv("SCRUTIN_CRASH_CHILD")
	if loc == "" {
		t.Skip("run as a child by TestCrashSafety")
	}
	db, err := Open(ctx, loc)
	if err == nil {
		if err = db.Create(ctx, testElection, nil); errors.Is(err, ErrExists) {
			err = nil
		}
	}
	var s Store
	if err == nil {
		s, err = db.Log(ctx, testElection)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	round := os.Getenv("SCRUTIN_CRASH_ROUND")
	var mu sync.Mutex
	for g := range 8 {
		go func() {
			r := mrand.New(mrand.NewPCG(uint64(g), uint64(len(round))))
			for k := 0; ; k++ {
				e := []byte(fmt.Sprintf("round %s goroutine %d append %d %s", round, g, k, strings.Repeat("x", r.IntN(300))))
				i, err := s.Append(ctx, [][]byte{e})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %x\n", i, sha256.Sum256(e))
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashSafety kills a child process that appends from many goroutines
// with SIGKILL at random moments, then reopens the store and checks that
// every acknowledged entry is there exactly once, at its index, that there
// is no duplicate, and that the stored tree is the tree of the entries.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			acked := make(map[int64]string)
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
				s, err := db.Log(ctx, testElection)
				if err != nil {
					t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
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
						t.Fatalf("round %d: entry %d is a duplicate", round, i)
					}
					seen[h] = true
					if a, ok := acked[int64(i)]; ok && a != h {
						t.Fatalf("round %d: index %d holds another entry than the one acknowledged", round, i)
					}
				}
				for i := range acked {
					if i >= n {
						t.Fatalf("round %d: acknowledged entry %d is lost (size %d)", round, i, n)
					}
				}
				db.Close()
				t.Logf("round %d: %d entries, %d acknowledged so far", round, n, len(acked))
			}
		})
	}
}

func record(t *testing.T, acked map[int64]string, line string) {
	var i int64
	var h string
	if _, err := fmt.Sscanf(line, "ack %d %s", &i, &h); err != nil {
		return // the test framework's own output
	}
	if prev, dup := acked[i]; dup && prev != h {
		t.Fatalf("index %d acknowledged for two entries", i)
	}
	acked[i] = h
}

// TestSeveralProcesses runs three processes appending at once to one
// PostgreSQL database (each with 8 goroutines), kills them, and checks the
// log: no gap, no duplicate, no fork, every acknowledged entry in place.
func TestSeveralProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	loc := postgresLocation(t)
	acked := make(map[int64]string)
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
	s := mustOpen(t, loc)
	n := checkAgainstMemory(t, s)
	all, _ := s.ReadEntries(ctx, 0, n)
	seen := make(map[string]bool)
	for i, e := range all {
		h := fmt.Sprintf("%x", sha256.Sum256(e))
		if seen[h] {
			t.Fatalf("entry %d is a duplicate", i)
		}
		seen[h] = true
		if a, ok := acked[int64(i)]; ok && a != h {
			t.Fatalf("index %d holds another entry than the one acknowledged", i)
		}
	}
	if int64(len(acked)) > n || len(acked) < 100 {
		t.Fatalf("%d acknowledged, %d stored", len(acked), n)
	}
	t.Logf("3 processes: %d entries, %d acknowledged", n, len(acked))
}
