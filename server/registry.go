package server

// The registry: every election of one store, served by one process.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/store"
)

// ElectionInfo is what the store's catalogue records about an election.
// It becomes store.Info once the multi-election store is merged.
type ElectionInfo struct {
	ID          string
	Created     time.Time
	Legacy      bool
	Witnesses   []string
	Size        int64 // the log's size
	Summary     []byte
	SummarySize int64
}

// Catalogue is the store of every election (a *store.DB).
type Catalogue interface {
	Elections(ctx context.Context) ([]ElectionInfo, error)
	Create(ctx context.Context, id string, witnesses []string) error
	Log(ctx context.Context, id string) (store.Store, error)
	SaveSummary(ctx context.Context, id string, size int64, summary []byte) error
	SetWitnesses(ctx context.Context, id string, witnesses []string) error
	Close() error
}

// Errors of the registry.
var (
	// ErrNoElection: no election has this id (404, with no detail).
	ErrNoElection = errors.New("no such election")
	// ErrFailed wraps the reason an election's log failed to load.
	ErrFailed = errors.New("the election failed to load")
)

// RegistryOptions configure OpenRegistry.
type RegistryOptions struct {
	DB         Catalogue
	MasterSeed []byte // DIR/log.key (or --log-key-file)
	// CheckpointDir holds each election's checkpoint file, named by its id
	// ("": none); a legacy DIR/log.checkpoint moves to CheckpointDir/main.
	CheckpointDir  string
	AcceptRollback bool
	Logger         *slog.Logger
	// Handler gives an election's API options (sign-in, officers' check).
	Handler func(id string, e *Election) Options
}

// Summary is what lists show of an election, kept without its log.
type Summary struct {
	ID      string
	Created time.Time
	Title   election.Text
	Phase   election.Phase
	// Opens and Closes are the voting window (zero if none).
	Opens, Closes time.Time
	Ballots       int
	Public        bool   // its manifest is recorded
	Failed        string // why its log failed to load ("" if it did not)
}

// Registry holds every election of a store.
type Registry struct {
	o RegistryOptions
}

// OpenRegistry opens every election of o.DB.
func OpenRegistry(ctx context.Context, o RegistryOptions) (*Registry, error) {
	return &Registry{o: o}, nil
}

// List returns every election, newest first (pages show the Public ones).
func (r *Registry) List() []Summary { return nil }

// Election returns the election id, loading it if needed: ErrNoElection,
// or its failure (wrapping ErrFailed).
func (r *Registry) Election(ctx context.Context, id string) (*Election, error) {
	return nil, ErrNoElection
}

// Create records a new, empty election.
func (r *Registry) Create(ctx context.Context, id string, witnesses []note.Verifier) (*Election, error) {
	return nil, errors.New("not yet")
}

// Handler serves /api/e/{id}/…, /e/{id}/log/…, /healthz and /metrics.
func (r *Registry) Handler() http.Handler { return http.NotFoundHandler() }

// Close closes every election and the store.
func (r *Registry) Close() error { return nil }
