// Package mirror reads and writes the files of a published log (docs/spec.md
// §17): a folder on disk, served by any web server, or an HTTP(S) URL. It
// implements board.FileReader and board.FileWriter.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// For returns a reader for a folder or an http:// or https:// URL.
func For(location string) interface {
	ReadFile(ctx context.Context, path string, max int) ([]byte, error)
} {
	if strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://") {
		return &HTTP{Base: location}
	}
	return Dir(location)
}

// checkPath refuses anything but a clean relative path inside the log.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "..") || strings.ContainsAny(p, "\\\x00%?#") {
		return fmt.Errorf("bad path %q", p)
	}
	return nil
}

// Dir is a published log in a folder.
type Dir string

// ReadFile reads a file of at most max bytes.
func (d Dir) ReadFile(ctx context.Context, p string, max int) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(p)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, max)
}

// WriteFile writes a file atomically (temporary file, fsync, rename).
func (d Dir) WriteFile(ctx context.Context, p string, data []byte) error {
	if err := checkPath(p); err != nil {
		return err
	}
	full := filepath.Join(string(d), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(full), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), full); err != nil {
		return err
	}
	// The rename itself must survive a crash (a witness records its state
	// before it publishes a cosignature).
	dir, err := os.Open(filepath.Dir(full))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

func readAtMost(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// HTTP is a published log at a URL.
type HTTP struct {
	Base   string
	Client *http.Client // nil means a client with a 30-second timeout
}

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// maxRetries bounds how often a file is asked for again after a server
// said to wait (scrutin serve limits what each client reads: 429, or 503
// while busy, with Retry-After).
const maxRetries = 30

// waitIfTold closes a refusal that says to come back (429 or 503), waits as
// long as its Retry-After says (at most a minute; a second if it says
// nothing), and reports whether to ask again.
func waitIfTold(ctx context.Context, resp *http.Response) bool {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return false
	}
	wait := time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		wait = min(time.Duration(s)*time.Second, time.Minute)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ReadFile fetches Base/path, refusing anything but 200 OK and bodies over
// max bytes.
func (h *HTTP) ReadFile(ctx context.Context, p string, max int) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	u, err := url.JoinPath(h.Base, p)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	c := h.Client
	if c == nil {
		c = defaultClient
	}
	var resp *http.Response
	for try := 0; ; try++ {
		if resp, err = c.Do(req); err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusOK || try == maxRetries || !waitIfTold(ctx, resp) {
			break
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if resp.ContentLength > int64(max) {
		return nil, errors.New("response too large")
	}
	return readAtMost(resp.Body, max)
}

// Copy returns a reader that reads from src and writes every file it reads
// into dst, under the same path: reading a log through it (to verify it)
// leaves in dst a copy of exactly the files read, which can be verified
// again later, off line.
func Copy(src interface {
	ReadFile(ctx context.Context, path string, max int) ([]byte, error)
}, dst Dir) interface {
	ReadFile(ctx context.Context, path string, max int) ([]byte, error)
} {
	return copier{src, dst}
}

type copier struct {
	src interface {
		ReadFile(ctx context.Context, path string, max int) ([]byte, error)
	}
	dst Dir
}

func (c copier) ReadFile(ctx context.Context, p string, max int) ([]byte, error) {
	b, err := c.src.ReadFile(ctx, p, max)
	if err != nil {
		return nil, err
	}
	if err := c.dst.WriteFile(ctx, p, b); err != nil {
		return nil, err
	}
	return b, nil
}
