package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

func serveCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("serve", "--dir DIR [--db URL] [--log-key-file FILE] [--addr ADDR]",
		`Serve runs the casting API of the election stored in DIR (SQLite) or in the
PostgreSQL database --db: it replays the log to rebuild the election's state,
then accepts ballots, gives receipts, and serves trackers, checkpoints, health
and metrics. The log's signing key seed is read from --log-key-file (by
default DIR/log.key, as written by "scrutin demo").`)
	dir := fs.String("dir", "", "data folder")
	db := fs.String("db", "", "PostgreSQL URL instead of SQLite in --dir")
	keyFile := fs.String("log-key-file", "", "file holding the log's 32-byte signing key seed (default DIR/log.key)")
	tokenFile := fs.String("officer-token-file", "", "file holding the officer token, created with a fresh random token if missing (default DIR/officer-token)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" && *db == "" {
			fmt.Fprintln(stderr, "scrutin serve: --dir or --db is required")
			return exitUsage
		}
		if *keyFile == "" {
			*keyFile = *dir + "/" + demo.LogKeyFile
		}
		seed, err := os.ReadFile(*keyFile)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("failed to read the log key: %w", err))
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		loc := *dir
		if *db != "" {
			loc = *db
		}
		st, err := store.Open(ctx, loc)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer st.Close()
		e, err := server.Open(ctx, st, seed)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		if *tokenFile == "" {
			*tokenFile = *dir + "/officer-token"
		}
		token, created, err := server.LoadOrCreateToken(*tokenFile)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		if created {
			fmt.Fprintf(stdout, "a new officer token was written to %s (readable only by you): officers' actions need it\n", *tokenFile)
		}
		logger := slog.New(slog.NewJSONHandler(stderr, nil))
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		srv := server.NewHTTPServer(*addr, e.Handler(logger, token))
		logger.Info("serving", "addr", ln.Addr().String())
		fmt.Fprintf(stdout, "serving http://%s\n", ln.Addr())
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fail(stderr, "serve", err)
		}
		return exitOK
	}
}
