package board

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// MemStorage is an in-memory Storage, for tests and tools.
type MemStorage struct {
	mu      sync.Mutex
	entries [][]byte
	hashes  []tlog.Hash
}

func (m *MemStorage) Append(ctx context.Context, entries [][]byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.entries))
	hs, err := NewHashes(n, entries, tlog.HashReaderFunc(m.read))
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		m.entries = append(m.entries, append([]byte(nil), e...))
	}
	m.hashes = append(m.hashes, hs...)
	return n, nil
}

func (m *MemStorage) Size(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.entries)), nil
}

func (m *MemStorage) ReadEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start < 0 || end > int64(len(m.entries)) || start > end {
		return nil, fmt.Errorf("entries [%d, %d) out of range", start, end)
	}
	return m.entries[start:end:end], nil
}

func (m *MemStorage) ReadHashes(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read(idx)
}

func (m *MemStorage) read(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d out of range", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// MemFiles is an in-memory FileWriter and FileReader, for tests.
type MemFiles struct {
	mu    sync.Mutex
	Files map[string][]byte
}

func (f *MemFiles) WriteFile(ctx context.Context, path string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Files == nil {
		f.Files = make(map[string][]byte)
	}
	f.Files[path] = append([]byte(nil), data...)
	return nil
}

func (f *MemFiles) ReadFile(ctx context.Context, path string, max int) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.Files[path]
	if !ok {
		return nil, fmt.Errorf("%s: not found", path)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return append([]byte(nil), b...), nil
}
