package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/dirlock"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/tlogwitness"
)

const (
	witnessKeyFile = "witness.key"
	witnessPubFile = "witness.pub"
)

// defaultMaxAge is how old a witness's cosignature/v1 may be, by default,
// for a reader of a live server (an http or https address) to count it
// (spec §16.2): a server pushes its checkpoint to its witnesses again every
// hour. A folder is read with no age bound unless --max-age is given.
const defaultMaxAge = 24 * time.Hour

// maxAgeFlag is --max-age: negative when not given.
func maxAgeFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("max-age", -1, "the oldest a witness's cosignature/v1 may be to count (0: any age; default: 24h for an http(s) address, any age for a folder)")
}

// freshnessFor is the freshness bound for reading loc (spec §16.2): the
// --max-age given, else 24 hours for a live server's address and no bound
// for a folder (a copy of a record, checked whenever it is read).
func freshnessFor(loc string, maxAge time.Duration) board.Freshness {
	if maxAge >= 0 {
		return board.Freshness{MaxAge: maxAge}
	}
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		return board.Freshness{MaxAge: defaultMaxAge}
	}
	return board.Freshness{}
}

// keyList is a repeatable flag of witnesses' verifier keys: plain Ed25519
// note keys or C2SP cosignature/v1 keys.
type keyList []note.Verifier

func (k *keyList) String() string { return fmt.Sprint(len(*k), " keys") }

func (k *keyList) Set(s string) error {
	v, err := board.NewWitnessVerifier(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a witness's verifier key (name+hash+key): %w", err)
	}
	for _, o := range *k {
		if o.Name() == v.Name() && o.KeyHash() == v.KeyHash() {
			return fmt.Errorf("the witness %s is given twice", v.Name())
		}
	}
	*k = append(*k, v)
	return nil
}

// verifierFlag is one note verifier key.
type verifierFlag struct{ v note.Verifier }

func (f *verifierFlag) String() string {
	if f.v == nil {
		return ""
	}
	return f.v.Name()
}

func (f *verifierFlag) Set(s string) error {
	v, err := note.NewVerifier(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a verifier key (name+hash+key): %w", err)
	}
	f.v = v
	return nil
}

func witnessInitCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("witness init", "--name NAME [--dir DIR]",
		`Init creates a witness's signing key in DIR/witness.key (readable only by you)
and its public verifier key in DIR/witness.pub: publish the latter, so that
readers can require your cosignature. NAME identifies the witness, for
example "observers.example.org/union-ballot-2027". The key makes C2SP
cosignature/v1 cosignatures (timestamped Ed25519, docs/spec.md §16.2), as
litewitness and other C2SP witnesses do.`)
	dir := fs.String("dir", "scrutin-witness", "the witness's folder: its key and state")
	name := fs.String("name", "", "the witness's name (no spaces or +)")
	return fs, func(stdout, stderr io.Writer) int {
		if *name == "" {
			fmt.Fprintln(stderr, "scrutin witness init: --name is required")
			return exitUsage
		}
		if _, err := os.Stat(filepath.Join(*dir, witnessKeyFile)); err == nil {
			return fail(stderr, "witness init", fmt.Errorf("%s already holds a witness key; use another folder", *dir))
		}
		skey, vkey, err := board.GenerateCosigner(rand.Reader, *name)
		if err != nil {
			return fail(stderr, "witness init", err)
		}
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fail(stderr, "witness init", err)
		}
		if err := os.WriteFile(filepath.Join(*dir, witnessKeyFile), []byte(skey+"\n"), 0o600); err != nil {
			return fail(stderr, "witness init", err)
		}
		if err := os.WriteFile(filepath.Join(*dir, witnessPubFile), []byte(vkey+"\n"), 0o644); err != nil {
			return fail(stderr, "witness init", err)
		}
		fmt.Fprintf(stdout, "witness key created in %s\npublic key (give it to readers): %s\n", *dir, vkey)
		return exitOK
	}
}

func witnessRunCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("witness run", "--log DIR|URL --log-key KEY [--dir DIR] [--out DIR] [--submit URL] [--once] [--interval D]",
		`Run follows a published election log. Each time it finds a new checkpoint it
checks the log's signature, checks from the published tiles that the new tree
extends the last one it cosigned, records it, and writes the checkpoint with
its cosignature to --out (serve that folder). A fork or a rollback is refused:
both signed checkpoints are kept in DIR/evidence as proof, and the command
exits with status 1 (with --once) or keeps refusing. With --submit, each
cosigned checkpoint is also posted to the election (its address, https://host/e/ID),
which serves it to readers and shows the witness on its public log page.`)
	dir := fs.String("dir", "scrutin-witness", "the witness's folder: its key and state")
	logLoc := fs.String("log", "", "the published log: a folder, an election's address (https://host/e/ID), or a mirror's URL")
	var logKey verifierFlag
	fs.Var(&logKey, "log-key", "the log's verifier key (from the election's manifest)")
	out := fs.String("out", "", "where to publish the cosigned checkpoint (default DIR/cosigned)")
	submit := fs.String("submit", "", "the election's address (https://host/e/ID), to post each cosigned checkpoint to")
	once := fs.Bool("once", false, "check once and exit")
	interval := fs.Duration("interval", 30*time.Second, "how often to poll the log")
	return fs, func(stdout, stderr io.Writer) int {
		if *logLoc == "" || logKey.v == nil {
			fmt.Fprintln(stderr, "scrutin witness run: --log and --log-key are required")
			return exitUsage
		}
		skey, err := os.ReadFile(filepath.Join(*dir, witnessKeyFile))
		if err != nil {
			return fail(stderr, "witness run", fmt.Errorf("no witness key: run \"scrutin witness init\" first: %w", err))
		}
		signer, err := witnessSigner(skey)
		if err != nil {
			return fail(stderr, "witness run", err)
		}
		if *out == "" {
			*out = filepath.Join(*dir, "cosigned")
		}
		w := &board.Witness{Signer: signer, Origin: logKey.v.Name(), LogKey: logKey.v}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		for {
			err := witnessOnce(ctx, w, *dir, *out, *logLoc, *submit, stdout)
			if err != nil {
				fmt.Fprintf(stderr, "scrutin witness run: %v\n", err)
			}
			if *once {
				if err != nil {
					return exitFailure
				}
				return exitOK
			}
			select {
			case <-ctx.Done():
				return exitOK
			case <-time.After(*interval):
			}
		}
	}
}

// witnessOnce fetches the log's checkpoint and cosigns it if it is
// consistent with the state.
func witnessOnce(ctx context.Context, w *board.Witness, dir, out, logLoc, submit string, stdout io.Writer) error {
	// Two runs on one folder must not both check against the same state:
	// they could cosign both sides of a fork.
	l, err := dirlock.Wait(dir)
	if err != nil {
		return err
	}
	defer l.Unlock()
	r := mirror.For(logLocation(logLoc))
	signed, err := r.ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
	if err != nil {
		return fmt.Errorf("failed to fetch the checkpoint: %w", err)
	}
	state := filepath.Join(dir, tlogwitness.StateFile(w.Origin))
	last, err := os.ReadFile(state)
	if errors.Is(err, os.ErrNotExist) {
		last = nil
	} else if err != nil {
		return err
	}
	cosigned, c, err := w.Cosign(ctx, r, last, signed)
	var fork *board.ForkError
	if errors.As(err, &fork) {
		return keepEvidence(dir, w.Origin, fork)
	}
	if err != nil {
		return err
	}
	// Record first, then publish (spec §16.2 step 4).
	if err := mirror.Dir(dir).WriteFile(ctx, filepath.Base(state), signed); err != nil {
		return err
	}
	if err := mirror.Dir(out).WriteFile(ctx, board.CheckpointFile, cosigned); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cosigned %s: %d entries, tree %v\n", c.Origin, c.Size, c.Hash)
	if submit != "" {
		if err := postCosignature(ctx, submit, cosigned); err != nil {
			return fmt.Errorf("cosigned, but could not submit it to %s: %w", submit, err)
		}
	}
	return nil
}

// keepEvidence keeps both checkpoints of a refused fork in DIR/evidence
// and returns the refusal, saying where they are.
func keepEvidence(dir, origin string, fork *board.ForkError) error {
	refused := fmt.Errorf("REFUSED, the log %s forked: %s", origin, fork.Reason)
	if err := os.MkdirAll(filepath.Join(dir, "evidence"), 0o700); err != nil {
		return fmt.Errorf("%w; and the evidence could not be kept: %v", refused, err)
	}
	ev, err := os.MkdirTemp(filepath.Join(dir, "evidence"), time.Now().UTC().Format("20060102T150405Z")+"-*")
	if err == nil {
		err = errors.Join(os.WriteFile(filepath.Join(ev, "previous.checkpoint"), fork.Old, 0o644),
			os.WriteFile(filepath.Join(ev, "new.checkpoint"), fork.New, 0o644))
	}
	if err != nil {
		return fmt.Errorf("%w; and the evidence could not be kept: %v", refused, err)
	}
	return fmt.Errorf("%w; both signed checkpoints are in %s", refused, ev)
}

// witnessSigner reads a witness's key file: a cosignature/v1 key (as
// "scrutin witness init" makes them), or a plain Ed25519 note key (as it
// made them before).
func witnessSigner(skey []byte) (note.Signer, error) {
	k := strings.TrimSpace(string(skey))
	if s, err := board.NewCosigner(k); err == nil {
		return s, nil
	}
	s, err := note.NewSigner(k)
	if err != nil {
		return nil, fmt.Errorf("the witness key is neither a cosignature/v1 nor an Ed25519 note key: %w", err)
	}
	return s, nil
}

func witnessServeCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("witness serve", "--log-key KEY... [--dir DIR] [--listen ADDR]",
		`Serve runs the witness as a C2SP tlog-witness service (docs/spec.md §16.3), the
protocol elections' servers and other transparency logs use to push their
checkpoints: POST /add-checkpoint with the old size, a consistency proof and
the new signed checkpoint; it answers with its cosignature, or 409 with the
size it last cosigned, or refuses (403 not signed by the log, 404 a log it
does not follow, 422 a proof that fails). Each --log-key names a log to
follow (its origin is the key's name). A fork is refused and both signed
checkpoints are kept in DIR/evidence. It shares its state (DIR) with
"scrutin witness run". Put HTTPS in front of it.`)
	dir := fs.String("dir", "scrutin-witness", "the witness's folder: its key and state")
	listen := fs.String("listen", "localhost:7380", "the address to listen on")
	var logKeys stringList
	fs.Var(&logKeys, "log-key", "a log's verifier key, whose name is its origin (repeatable)")
	return fs, func(stdout, stderr io.Writer) int {
		if len(logKeys) == 0 {
			fmt.Fprintln(stderr, "scrutin witness serve: give at least one --log-key")
			return exitUsage
		}
		skey, err := os.ReadFile(filepath.Join(*dir, witnessKeyFile))
		if err != nil {
			return fail(stderr, "witness serve", fmt.Errorf("no witness key: run \"scrutin witness init\" first: %w", err))
		}
		signer, err := witnessSigner(skey)
		if err != nil {
			return fail(stderr, "witness serve", err)
		}
		logs := map[string]*board.Witness{}
		for _, k := range logKeys {
			v, err := note.NewVerifier(strings.TrimSpace(k))
			if err != nil {
				return fail(stderr, "witness serve", fmt.Errorf("--log-key %q: not a log's verifier key: %w", k, err))
			}
			logs[v.Name()] = &board.Witness{Signer: signer, Origin: v.Name(), LogKey: v}
		}
		h := &tlogwitness.Handler{Logs: logs, State: tlogwitness.Dir(*dir),
			Fork: func(origin string, f *board.ForkError) {
				fmt.Fprintf(stderr, "scrutin witness serve: %v\n", keepEvidence(*dir, origin, f))
			},
			Cosigned: func(origin string, size int64) {
				fmt.Fprintf(stdout, "cosigned %s: %d entries\n", origin, size)
			}}
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return fail(stderr, "witness serve", err)
		}
		fmt.Fprintf(stdout, "witness %s listening on http://%s/add-checkpoint for %d logs\n", signer.Name(), l.Addr(), len(logs))
		srv := &http.Server{Handler: http.MaxBytesHandler(h, board.MaxAddCheckpoint+1), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fail(stderr, "witness serve", err)
		}
		return exitOK
	}
}

func logCheckCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("log check", "--log DIR|URL --log-key KEY [--witness KEY]... [--quorum N] [--json]",
		`Check reads a published election log from a folder or a URL and checks all of
it (docs/spec.md §17.3): the checkpoint's signature by the log key, the
cosignatures of at least --quorum of the --witness keys, every entry bundle,
the tree recomputed from the entries, and every hash tile. Exit status 0 means
the whole log checks out.`)
	logLoc := fs.String("log", "", "the published log: a folder, an election's address (https://host/e/ID), or a mirror's URL")
	var logKey verifierFlag
	fs.Var(&logKey, "log-key", "the log's verifier key")
	var witnesses keyList
	fs.Var(&witnesses, "witness", "a witness's verifier key (repeatable)")
	quorum := fs.Int("quorum", -1, "how many of the witnesses must have cosigned (default: all given)")
	maxAge := maxAgeFlag(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	previous := fs.String("previous", "", "a checkpoint file of this log seen before: the log must extend it")
	electionF := fs.String("election", "", "the election's fingerprint as announced (64 hex digits): the log key must be this election's")
	return fs, func(stdout, stderr io.Writer) int {
		if *logLoc == "" || logKey.v == nil {
			fmt.Fprintln(stderr, "scrutin log check: --log and --log-key are required")
			return exitUsage
		}
		if *electionF != "" && logKey.v.Name() != "scrutin/v0/election/"+strings.ToLower(*electionF) {
			return fail(stderr, "log check", fmt.Errorf("the log key is named %q: it is not the key of election %s", logKey.v.Name(), *electionF))
		}
		var prev []byte
		if *previous != "" {
			var err error
			if prev, err = os.ReadFile(*previous); err != nil {
				return fail(stderr, "log check", err)
			}
		}
		if *quorum < 0 {
			*quorum = len(witnesses)
		}
		opt := board.ReadOptions{Origin: logKey.v.Name(), LogKey: logKey.v, Witnesses: witnesses, Quorum: *quorum, Fresh: freshnessFor(*logLoc, *maxAge), Previous: prev}
		c, n, err := board.ReadPublished(context.Background(), mirror.For(logLocation(*logLoc)), opt)
		if *asJSON {
			res := map[string]any{"ok": err == nil}
			if err != nil {
				res["error"] = err.Error()
			} else {
				var signers []string
				for _, s := range n.Sigs {
					signers = append(signers, s.Name)
				}
				res["origin"], res["size"], res["tree_hash"], res["signed_by"] = c.Origin, c.Size, c.Hash.String(), signers
			}
			b, _ := json.MarshalIndent(res, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		}
		if err != nil {
			return fail(stderr, "log check", err)
		}
		if !*asJSON {
			fmt.Fprintf(stdout, "the log %s checks out: %d entries, tree %v, signed by the log", c.Origin, c.Size, c.Hash)
			if len(witnesses) > 0 {
				fmt.Fprintf(stdout, " and cosigned by at least %d of %d witnesses", *quorum, len(witnesses))
			}
			fmt.Fprintln(stdout)
		}
		return exitOK
	}
}

// postCosignature posts a cosigned checkpoint to the election's server.
func postCosignature(ctx context.Context, base string, cosigned []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	api, err := electionAPI(base)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", api+"/cosignatures", bytes.NewReader(cosigned))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the server answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}
