package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/internal/demo"
)

// TestRollPageCommand (issue 17): the command the console's roll import
// prints once the roll is recorded, for the credential authority, has
// the real command and flags (the page writes it alike in both languages).
func TestRollPageCommand(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range map[string]string{"step": "record", "data": "No,E-mail,Region\nM1,a@example.org,be\nM2,b@example.org,\n", "map.id": "No", "map.email": "E-mail", "map.groups": "Region"} {
		w.WriteField(k, v)
	}
	w.Close()
	req, _ := http.NewRequest("POST", base+"/e/"+f.ID+"/console/roll", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.AddCookie(admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cmds := pageCommands(string(body))
	if resp.StatusCode != 200 || len(cmds) == 0 {
		t.Fatalf("the roll recorded: %s, commands %q\n%.2000s", resp.Status, cmds, body)
	}
	for _, c := range cmds {
		args, err := splitCommand(c)
		if err != nil || len(args) < 2 || args[0] != "scrutin" {
			t.Errorf("%q is not a command line: %v", c, err)
			continue
		}
		cmd, rest, ok := findCommand(args[1:])
		if !ok {
			t.Errorf("%q: no such scrutin command", c)
			continue
		}
		fs, _ := cmd.setup()
		fs.SetOutput(io.Discard)
		if err := fs.Parse(rest); err != nil || (fs.NArg() > 0 && !cmd.args) {
			t.Errorf("%q: %v %v", c, err, fs.Args())
		}
		if !strings.Contains(c, "--roll roll.json") || !strings.Contains(c, "--manifest manifest.json") {
			t.Errorf("%q does not name the files the page hands out", c)
		}
	}
}
