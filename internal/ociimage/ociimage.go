// Package ociimage writes a container image, one layer on an empty base,
// as a tar file holding both an OCI image layout (oci-layout, index.json,
// blobs/sha256/…) and Docker's manifest.json, so that "docker load",
// "podman load" and OCI tools read it. The same files and configuration
// give the same bytes: entries sorted, every time stamp fixed, owners
// numeric, gzip without name or time. No registry or daemon is needed.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// File is one entry of the image's only layer.
type File struct {
	Path     string // absolute, e.g. /usr/local/bin/scrutin
	Dir      bool
	Mode     int64 // permission bits (and 01000 sticky)
	UID, GID int
	Data     []byte
}

// Config is what the image runs, as in the OCI image configuration.
type Config struct {
	OS, Arch     string
	User         string // numeric "UID:GID"
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	ExposedPorts []string // "8080/tcp"
	Volumes      []string // "/data"
	Labels       map[string]string
	Created      time.Time // also every file's modification time
}

// Image is a written image's names.
type Image struct {
	Manifest string // the manifest's digest, sha256:…: the image's digest
	Config   string // the configuration's digest (Docker's image id)
	Layer    string // the compressed layer's digest
	DiffID   string // the uncompressed layer's digest
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// layer returns the layer's tar, its parent directories added, sorted.
func layer(files []File, mtime time.Time) ([]byte, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("ociimage: %q is not an absolute file path", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("ociimage: %s twice", p)
		}
		f.Path = p
		byPath[p] = f
	}
	for p := range byPath {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = File{Path: d, Dir: true, Mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		h := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.Dir {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the image of files and cfg, named ref (e.g. "scrutin:1.0")
// for "docker load", to w.
func Write(w io.Writer, files []File, cfg Config, ref string) (Image, error) {
	mtime := cfg.Created.UTC()
	raw, err := layer(files, mtime)
	if err != nil {
		return Image{}, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return Image{}, err
	}
	img := Image{Layer: digest(gz.Bytes()), DiffID: digest(raw)}

	set := func(keys []string) map[string]struct{} {
		if len(keys) == 0 {
			return nil
		}
		m := map[string]struct{}{}
		for _, k := range keys {
			m[k] = struct{}{}
		}
		return m
	}
	type runConfig struct {
		User         string              `json:"User,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		Cmd          []string            `json:"Cmd,omitempty"`
		Volumes      map[string]struct{} `json:"Volumes,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		Labels       map[string]string   `json:"Labels,omitempty"`
	}
	config, err := json.Marshal(struct {
		Created      string    `json:"created"`
		Architecture string    `json:"architecture"`
		OS           string    `json:"os"`
		Config       runConfig `json:"config"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}{
		Created: mtime.Format(time.RFC3339), Architecture: cfg.Arch, OS: cfg.OS,
		Config: runConfig{cfg.User, set(cfg.ExposedPorts), cfg.Env, cfg.Entrypoint, cfg.Cmd, set(cfg.Volumes), cfg.WorkingDir, cfg.Labels},
		RootFS: struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		}{"layers", []string{img.DiffID}},
	})
	if err != nil {
		return Image{}, err
	}
	img.Config = digest(config)
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	manifest, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json",
		descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: img.Config, Size: len(config)},
		[]descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: img.Layer, Size: gz.Len()}},
	})
	if err != nil {
		return Image{}, err
	}
	img.Manifest = digest(manifest)
	md := descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: img.Manifest, Size: len(manifest)}
	if ref != "" {
		md.Annotations = map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref}
	}
	index, err := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", []descriptor{md}})
	if err != nil {
		return Image{}, err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	var tags []string
	if ref != "" {
		tags = []string{ref}
	}
	docker, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{blob(img.Config), tags, []string{blob(img.Layer)}}})
	if err != nil {
		return Image{}, err
	}

	tw := tar.NewWriter(w)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return Image{}, err
		}
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{
		{blob(img.Config), config},
		{blob(img.Layer), gz.Bytes()},
		{blob(img.Manifest), manifest},
		{"index.json", index},
		{"manifest.json", docker},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	} {
		if err := add(f.name, f.b); err != nil {
			return Image{}, err
		}
	}
	return img, tw.Close()
}
