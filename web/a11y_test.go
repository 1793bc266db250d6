package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/server"
)

// axe returns the axe-core script (SCRUTIN_AXE: the path of axe.min.js, which
// .ci/run downloads from the npm registry and checks against its hash).
func axe(t *testing.T) string {
	path := os.Getenv("SCRUTIN_AXE")
	if path == "" {
		if os.Getenv("SCRUTIN_REQUIRE_BROWSER") != "" {
			t.Fatal("SCRUTIN_AXE is not set (the path of axe-core's axe.min.js), and SCRUTIN_REQUIRE_BROWSER is")
		}
		t.Skip("SCRUTIN_AXE is not set: no accessibility check")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// violations runs axe-core's WCAG 2.1 A and AA rules on the page as it is.
func violations(t *testing.T, ctx context.Context, script, page string) []axeViolation {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script+"\n;true")); err != nil {
		t.Fatalf("%s: loading axe-core: %v", page, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe-core: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func checkAxe(t *testing.T, ctx context.Context, script, page string) {
	t.Helper()
	for _, v := range violations(t, ctx, script, page) {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %.120s", n.Target, n.HTML))
		}
		t.Errorf("%s: WCAG 2.1 AA: %s (%s, %s) at %s", page, v.ID, v.Help, v.Impact, strings.Join(where, "; "))
	}
}

// TestBrowserAccessibility checks every page, and every step of the booth,
// in English and French, against axe-core's WCAG 2.1 AA rules.
func TestBrowserAccessibility(t *testing.T) {
	script := axe(t)
	ctx := browser(t)
	f, base := newDemo(t, 6)
	// The public log page with its witnesses' table: one witness posts its
	// cosignatures, one the server pushes to refuses connections.
	_, pv := boardWitness(t, "observers.example/posts")
	_, rv := boardWitness(t, "observers.example/refuses")
	f.Election.SetWitnessList([]server.Witness{{Key: pv}, {Key: rv, URL: "http://127.0.0.1:1"}})
	pushing := make(chan struct{})
	t.Cleanup(func() { close(pushing) })
	f.Election.StartPushing(pushing, nil)
	// The check can fail: a field without a label and low-contrast text
	// are found.
	run(t, ctx, "control", chromedp.Navigate(base+el+"/"), chromedp.WaitVisible(css("main")))
	eval[bool](t, ctx, `(() => { const m = document.querySelector("main"); m.insertAdjacentHTML("beforeend", '<input id="unlabelled">'); document.querySelector("main p").style.color = "#ccc"; return true })()`)
	found := map[string]bool{}
	for _, v := range violations(t, ctx, script, "control") {
		found[v.ID] = true
	}
	if !found["label"] || !found["color-contrast"] {
		t.Fatalf("axe-core did not find the planted faults: %v", found)
	}
	// A ballot, for the tracker and ballots pages.
	signIn(t, ctx, f, base, 0)
	checkAxe(t, ctx, script, "booth: ballot")
	choose(t, ctx, f.Choices(0, []int{1}, []int{}))
	checkAxe(t, ctx, script, "booth: review")
	run(t, ctx, "audit", chromedp.Click(css("#audit")), chromedp.WaitVisible(css("#step-audit")))
	checkAxe(t, ctx, script, "booth: audit")
	run(t, ctx, "again", chromedp.Click(css("#again")), chromedp.WaitVisible(css("#step-review")))
	value(t, ctx, "code", chromedp.Poll[string](`document.getElementById("ballot-code").textContent`))
	tracker, _ := cast(t, ctx)
	checkAxe(t, ctx, script, "booth: receipt")
	for _, lang := range []string{"en", "fr"} {
		// The language form, as the page posts it.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "`+lang+`", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/", el + "/", el + "/vote", el + "/ballots", el + "/ballots/" + tracker, el + "/board", el + "/results", el + "/verify", el + "/audit", el + "/trustee", "/e/not-yet-2027/trustee", "/staff/sign-in"} {
			run(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(css("main")))
			if got := eval[string](t, ctx, `document.documentElement.lang`); got != lang {
				t.Fatalf("%s is in %q, not %q", p, got, lang)
			}
			checkAxe(t, ctx, script, lang+" "+p)
		}
	}
	// The staff console: the list of elections and the election's console
	// (for someone with a role on every election, signed in with a
	// recovery code), and the answer to an unknown election.
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	_, codes := inviteCodes(t, base, admin, "ada@example.org", accounts.RoleAdmin, accounts.AllElections)
	run(t, ctx, "staff sign-in", chromedp.Navigate(base+"/staff/sign-in"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#email"), "ada@example.org"), chromedp.SendKeys(css("#password"), "green kettle over the hills"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("details summary")), chromedp.Click(css("details summary")),
		chromedp.SendKeys(css("#recovery"), codes[0]), chromedp.Submit(css("#recovery")),
		chromedp.WaitVisible(css("#console-elections")))
	checkAxe(t, ctx, script, "console: the elections")
	run(t, ctx, "the election's console", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#console-phase")))
	checkAxe(t, ctx, script, "console: the election")
	for _, p := range []string{el + "/console/trail", "/staff/people", "/staff/trail", "/staff/account"} {
		run(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(css("main h1")))
		checkAxe(t, ctx, script, p)
	}
	run(t, ctx, "an unknown election", chromedp.Navigate(base+"/e/no-such-election/"), chromedp.WaitVisible(css("main")))
	checkAxe(t, ctx, script, "an unknown election")
}
