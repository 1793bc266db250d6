// Command scrutin-image builds scrutin's container image from this
// checkout, with no registry, base image or daemon: it builds the static
// binary (CGO_ENABLED=0, -trimpath, no build id or VCS stamp, with Mozilla's
// CA roots as fallback) and writes a one-layer image on an empty base, as a
// tar that "docker load" and "podman load" read (an OCI image layout with
// Docker's manifest.json). Built twice from the same checkout with the same
// Go, it is the same file, byte for byte: every time stamp is
// SOURCE_DATE_EPOCH (default 0, 1970-01-01).
//
// The image runs "scrutin serve" as user 65532 (not root), on the volume
// /data, listening on port 8080:
//
//	go run ./cmd/scrutin-image --out scrutin-image.tar
//	docker load --input scrutin-image.tar
//	docker run -d -p 8080:8080 -v scrutin-data:/data scrutin:latest serve --dir /data --addr :8080 …
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/scrutin/scrutin/internal/ociimage"
)

// The image's user: no account on the host, not root.
const uid = 65532

func main() {
	out := flag.String("out", "scrutin-image.tar", "the image file to write")
	tag := flag.String("tag", "scrutin:latest", "the image's name, for docker load")
	arch := flag.String("arch", runtime.GOARCH, "the processor architecture (GOARCH) to build for")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./cmd/scrutin-image [--out FILE] [--tag NAME] [--arch GOARCH]\n\nBuilds scrutin's container image (see the package documentation).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	img, err := build(*out, *tag, *arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrutin-image:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %s, digest %s (image id %s)\n", *out, *tag, img.Manifest, img.Config)
}

func build(out, tag, arch string) (ociimage.Image, error) {
	created := time.Unix(0, 0)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ociimage.Image{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %v", s, err)
		}
		created = time.Unix(n, 0)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(gomod)), "go.mod") {
		return ociimage.Image{}, fmt.Errorf("run it in scrutin's checkout (go env GOMOD: %v)", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	tmp, err := os.MkdirTemp("", "scrutin-image")
	if err != nil {
		return ociimage.Image{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "scrutin")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "fallbackroots", "-ldflags", "-s -w -buildid=", "-o", bin, "./cmd/scrutin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return ociimage.Image{}, fmt.Errorf("go build: %v", err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return ociimage.Image{}, err
	}
	files := []ociimage.File{
		{Path: "/usr/local/bin/scrutin", Mode: 0o755, Data: b},
		// The data folder, the image's volume: the user's alone.
		{Path: "/data", Dir: true, Mode: 0o700, UID: uid, GID: uid},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		// Names for the numeric user, for tools that look them up.
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(fmt.Sprintf("scrutin:x:%d:%d:scrutin:/data:/nonexistent\n", uid, uid))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(fmt.Sprintf("scrutin:x:%d:\n", uid))},
	}
	cfg := ociimage.Config{
		OS: "linux", Arch: arch,
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{"/usr/local/bin/scrutin"},
		// Without --smtp (or --sign-in off) serve says what it needs.
		Cmd:          []string{"serve", "--dir", "/data", "--addr", ":8080"},
		WorkingDir:   "/data",
		ExposedPorts: []string{"8080/tcp"},
		Volumes:      []string{"/data"},
		Labels:       map[string]string{"org.opencontainers.image.title": "scrutin"},
		Created:      created,
	}
	f, err := os.Create(out)
	if err != nil {
		return ociimage.Image{}, err
	}
	img, err := ociimage.Write(f, files, cfg, tag)
	if err != nil {
		f.Close()
		return ociimage.Image{}, err
	}
	return img, f.Close()
}
