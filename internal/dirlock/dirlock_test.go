package dirlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHelperProcess tries the lock from a child process and reports.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("DIRLOCK_CHILD")
	if dir == "" {
		t.Skip("run as a child by TestTwoProcesses")
	}
	l, err := TryLock(dir)
	if err != nil {
		fmt.Println("refused:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	if os.Getenv("DIRLOCK_HOLD") != "" {
		time.Sleep(30 * time.Second) // until killed
	}
	l.Unlock()
	os.Exit(0)
}

func child(t *testing.T, dir string) (int, string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DIRLOCK_CHILD="+dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestTwoProcesses: while this process holds the lock, another process is
// refused with a message naming the holder; once released, or once the
// holder has died, it gets the lock.
func TestTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	l, err := TryLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	code, out := child(t, dir)
	if code != 3 || !strings.Contains(out, ErrLocked.Error()) || !strings.Contains(out, fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("a second process while the lock is held: exit %d, %q", code, out)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if code, out := child(t, dir); code != 0 || !strings.Contains(out, "locked") {
		t.Fatalf("a second process after unlock: exit %d, %q", code, out)
	}

	// A holder killed with SIGKILL leaves no stale lock.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DIRLOCK_CHILD="+dir, "DIRLOCK_HOLD=1")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "locked" {
		t.Fatalf("the holder did not lock: %q %v", buf, err)
	}
	if _, err := TryLock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("while another process holds the lock: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err = TryLock(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}

// TestSameProcess: a second open of the lock file in the same process is
// refused too (flock locks belong to open file descriptions), and Wait
// waits for the holder.
func TestSameProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := TryLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock: %v", err)
	}
	got := make(chan *Lock)
	go func() {
		l2, err := Wait(dir)
		if err != nil {
			t.Error(err)
		}
		got <- l2
	}()
	select {
	case <-got:
		t.Fatal("Wait took a held lock")
	case <-time.After(100 * time.Millisecond):
	}
	l.Unlock()
	select {
	case l2 := <-got:
		l2.Unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not get the released lock")
	}
}
