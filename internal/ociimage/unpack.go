package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Unpack reads an image tar written by Write (or any single-image OCI
// layout tar with gzip layers), checks every blob against its digest,
// extracts its layers into dir (owners and modes as recorded; owners only
// when run as root) and returns its run configuration.
func Unpack(r io.Reader, dir string) (Config, error) {
	blobs := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Config{}, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return Config{}, err
		}
		blobs[h.Name] = b
	}
	get := func(d string) ([]byte, error) {
		b, ok := blobs["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]
		if !ok {
			return nil, fmt.Errorf("ociimage: no blob %s", d)
		}
		if digest(b) != d {
			return nil, fmt.Errorf("ociimage: blob %s does not match its digest", d)
		}
		return b, nil
	}
	var index struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		return Config{}, fmt.Errorf("ociimage: index.json does not name one image: %v", err)
	}
	mb, err := get(index.Manifests[0].Digest)
	if err != nil {
		return Config{}, err
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		return Config{}, err
	}
	cb, err := get(manifest.Config.Digest)
	if err != nil {
		return Config{}, err
	}
	var config struct {
		Architecture, OS string
		Config           struct {
			User, WorkingDir      string
			Env, Entrypoint, Cmd  []string
			Volumes, ExposedPorts map[string]struct{}
			Labels                map[string]string
		}
	}
	if err := json.Unmarshal(cb, &config); err != nil {
		return Config{}, err
	}
	c := config.Config
	cfg := Config{OS: config.OS, Arch: config.Architecture, User: c.User, Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, Labels: c.Labels}
	for v := range c.Volumes {
		cfg.Volumes = append(cfg.Volumes, v)
	}
	for p := range c.ExposedPorts {
		cfg.ExposedPorts = append(cfg.ExposedPorts, p)
	}
	root := os.Getuid() == 0
	for _, l := range manifest.Layers {
		lb, err := get(l.Digest)
		if err != nil {
			return Config{}, err
		}
		zr, err := gzip.NewReader(bytes.NewReader(lb))
		if err != nil {
			return Config{}, err
		}
		lt := tar.NewReader(zr)
		for {
			h, err := lt.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return Config{}, err
			}
			name := filepath.Clean(h.Name)
			if !filepath.IsLocal(name) {
				return Config{}, fmt.Errorf("ociimage: %q leaves the root", h.Name)
			}
			p := filepath.Join(dir, name)
			switch h.Typeflag {
			case tar.TypeDir:
				if err := os.MkdirAll(p, 0o755); err != nil {
					return Config{}, err
				}
			case tar.TypeReg:
				b, err := io.ReadAll(lt)
				if err != nil {
					return Config{}, err
				}
				if err := os.WriteFile(p, b, 0o600); err != nil {
					return Config{}, err
				}
			default:
				return Config{}, fmt.Errorf("ociimage: %s: entries of type %c are not handled", h.Name, h.Typeflag)
			}
			if err := os.Chmod(p, os.FileMode(h.Mode).Perm()|modeExtra(h.Mode)); err != nil {
				return Config{}, err
			}
			if root {
				if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
					return Config{}, err
				}
			}
		}
	}
	return cfg, nil
}

func modeExtra(m int64) os.FileMode {
	var x os.FileMode
	if m&0o1000 != 0 {
		x |= os.ModeSticky
	}
	return x
}
