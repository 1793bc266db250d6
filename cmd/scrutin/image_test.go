package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/internal/ociimage"
	"github.com/scrutin/scrutin/server"
)

// runcSpec is the OCI runtime configuration the test gives runc for the
// image: its user and working folder, a read-only root, /data bound from
// the host (the volume), a tmpfs /tmp, no capability, and the host's
// network (so that the test reaches the port).
func runcSpec(cfg ociimage.Config, rootfs, data string, args []string) []byte {
	var uid, gid int
	fmt.Sscanf(cfg.User, "%d:%d", &uid, &gid)
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal":        false,
			"user":            map[string]int{"uid": uid, "gid": gid},
			"args":            append(append([]string{}, cfg.Entrypoint...), args...),
			"env":             append([]string{"PATH=/usr/local/bin"}, cfg.Env...),
			"cwd":             cfg.WorkingDir,
			"noNewPrivileges": true,
			"capabilities":    map[string][]string{},
		},
		"root": map[string]any{"path": rootfs, "readonly": true},
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777"}},
			{"destination": "/data", "type": "bind", "source": data, "options": []string{"rbind", "rw", "nosuid", "nodev"}},
		},
		"linux": map[string]any{
			"namespaces":    []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"maskedPaths":   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	b, _ := json.Marshal(spec)
	return b
}

// TestImageServes (issue 23) builds the container image with the README's
// command, unpacks it, and runs it with runc (Debian's; no container daemon
// runs on the CI machine) as the image says: user 65532, a read-only root,
// /data a volume owned by that user. In it, "scrutin demo --no-vote" sets
// up an election on the volume, then "scrutin serve" serves it; a ballot
// cast from outside is stored, and SIGTERM stops the container with 0.
func TestImageServes(t *testing.T) {
	runc := requireTool(t, "runc")
	if os.Getuid() != 0 {
		t.Skip("runc runs the image as root only here (CI runs as root)")
	}
	dir := t.TempDir()
	image := filepath.Join(dir, "scrutin-image.tar")
	build := exec.Command("go", "run", "./cmd/scrutin-image", "--out", image)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go run ./cmd/scrutin-image: %v\n%s", err, out)
	}
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	cfg, err := ociimage.Unpack(f, rootfs)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The volume: a folder of the host, owned by the image's user.
	data := filepath.Join(dir, "data")
	var uid, gid int
	fmt.Sscanf(cfg.User, "%d:%d", &uid, &gid)
	if uid == 0 {
		t.Fatalf("the image runs as root (%q)", cfg.User)
	}
	os.Mkdir(data, 0o700)
	os.Chown(data, uid, gid)
	n := 0
	container := func(args ...string) (*exec.Cmd, string) {
		n++
		id := fmt.Sprintf("scrutin-test-%d-%d", os.Getpid(), n)
		os.WriteFile(filepath.Join(bundle, "config.json"), runcSpec(cfg, rootfs, data, args), 0o644)
		cmd := exec.Command(runc, "run", "--bundle", bundle, id)
		t.Cleanup(func() { exec.Command(runc, "delete", "--force", id).Run() })
		return cmd, id
	}
	demo, _ := container("demo", "--voters", "5", "--dir", "/data", "--no-vote")
	if out, err := demo.CombinedOutput(); err != nil {
		t.Fatalf("scrutin demo in the container: %v\n%s", err, out)
	}
	serve, id := container("serve", "--dir", "/data", "--sign-in", "off", "--addr", "127.0.0.1:0")
	stdout, _ := serve.StdoutPipe()
	var stderr strings.Builder
	serve.Stderr = &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
			url = u
			break
		}
	}
	if url == "" {
		serve.Wait()
		t.Fatalf("serve in the container did not start: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	r, msg := newCaster(t, url, data).cast(0)
	if msg != "" {
		t.Fatalf("cast through the container: %s", msg)
	}
	if m := ballotsMissing(t, url, []server.Receipt{r}); len(m) != 0 {
		t.Fatal(m)
	}
	t.Logf("ballot %s stored by the container, at index %d", r.Tracker, r.Index)
	// What the container wrote on the volume is its user's, and others'
	// cannot read it.
	st, err := os.Stat(filepath.Join(data, "log.key"))
	if err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("log.key on the volume: %v %v", st, err)
	}
	// docker stop: SIGTERM, then a clean exit.
	if out, err := exec.Command(runc, "kill", id, "TERM").CombinedOutput(); err != nil {
		t.Fatalf("runc kill: %v %s", err, out)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the container stopped with %v: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the container did not stop within 30 s of SIGTERM")
	}
}
