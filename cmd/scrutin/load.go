package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/scrutin/scrutin/internal/load"
)

func loadCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("load", "--url URL [--election ID] --credentials FILE [--rate R] [--duration D] [--timeout T] [--json]",
		`Load encrypts and signs real ballots (Rate × Duration of them, before the
clock starts), then casts them at a fixed rate against a running "scrutin
serve" (election ID, by default demo), and reports the throughput and the latency percentiles, measured from
each ballot's scheduled time. Use it on loopback: for example, after
"scrutin demo --voters 20000 --dir D --no-vote" and "scrutin serve --dir D
--sign-in off" (the load generator casts with credentials only), with
--credentials D/elections/demo/credentials.csv. With
--browsers N, N more clients fetch costly pages (by default the WebAssembly
module without gzip and the list of ballots) while the ballots are cast.`)
	url := fs.String("url", "http://127.0.0.1:8080", "the server (loopback)")
	id := fs.String("election", "demo", "the election's id")
	creds := fs.String("credentials", "", "the credentials CSV written by scrutin demo")
	rate := fs.Float64("rate", 500, "ballots per second")
	dur := fs.Duration("duration", 20*time.Second, "how long to send")
	timeout := fs.Duration("timeout", 30*time.Second, "how long each client waits for its answer before giving up")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	browsers := fs.Int("browsers", 0, "clients fetching costly pages meanwhile (without gzip), one request after another")
	browsePaths := fs.String("browse-paths", strings.Join(load.DefaultBrowsePaths, ","), "the pages they fetch, in turn ({id}: the election's id)")
	browseFrom := fs.Bool("browse-from-many", false, "name each browsing client by its own X-Forwarded-For address (the server must trust 127.0.0.1/32 as a proxy)")
	return fs, func(stdout, stderr io.Writer) int {
		if *creds == "" {
			fmt.Fprintln(stderr, "scrutin load: --credentials is required")
			return exitUsage
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		rep, err := load.Run(ctx, load.Options{URL: *url, Election: *id, Credentials: *creds, Rate: *rate, Duration: *dur, Timeout: *timeout,
			Browsers: *browsers, BrowsePaths: strings.Split(*browsePaths, ","), BrowseFrom: *browseFrom,
			Progress: func(f string, a ...any) {
				if !*asJSON {
					fmt.Fprintf(stdout, "  "+f+"\n", a...)
				}
			}})
		if err != nil {
			return fail(stderr, "load", err)
		}
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			fmt.Fprintf(stdout, "target %.0f/s for %.1fs: %d accepted (%.0f/s), %d refused, %d failed; latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
				rep.Rate, rep.Seconds, rep.Accepted, rep.Throughput, rep.Refused, rep.Failed, rep.P50, rep.P90, rep.P99, rep.Max)
			if b := rep.Browse; b != nil {
				fmt.Fprintf(stdout, "meanwhile %d browsing clients made %d requests (%.0f/s, %.1f MB), answered %v\n",
					b.Clients, b.Requests, float64(b.Requests)/rep.Seconds, float64(b.Bytes)/1e6, b.Status)
			}
		}
		if rep.Failed > 0 || rep.Refused > 0 {
			return exitFailure
		}
		return exitOK
	}
}
