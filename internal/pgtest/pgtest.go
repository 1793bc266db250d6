// Package pgtest gives tests a PostgreSQL schema or database of their own
// on the test server: $SCRUTIN_TEST_POSTGRES, or the local server on
// 127.0.0.1:5432 (trust authentication, database test). Without a server
// the test is skipped, except where $SCRUTIN_REQUIRE_POSTGRES is set (CI),
// where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Base is the test server's URL.
func Base() string {
	if u := os.Getenv("SCRUTIN_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// connect connects to the test server, or skips (fails in CI).
func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), Base())
	if err != nil {
		if os.Getenv("SCRUTIN_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required: %v", err)
		}
		t.Skipf("no PostgreSQL at %s (set SCRUTIN_TEST_POSTGRES): %v", Base(), err)
	}
	return conn
}

// fresh makes a name for a schema or database, prefix_ and random hex.
func fresh(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%x", prefix, b)
}

// Schema makes a schema of its own for the test, dropped at its end, and
// returns a URL of the test server that uses it.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	conn := connect(t)
	defer conn.Close(context.Background())
	schema := fresh(prefix)
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop("DROP SCHEMA " + schema + " CASCADE") })
	base := Base()
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// Database makes an empty database of its own for the test, dropped at its
// end, and returns its URL (for tools such as pg_dump, which work on whole
// databases).
func Database(t testing.TB, prefix string) string {
	t.Helper()
	conn := connect(t)
	defer conn.Close(context.Background())
	name := fresh(prefix)
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drop("DROP DATABASE " + name + " WITH (FORCE)") })
	u, err := url.Parse(Base())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(sql string) {
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, Base()); err == nil {
		c.Exec(ctx, sql)
		c.Close(ctx)
	}
}
