package web

import (
	"strings"
	"testing"
)

// TestPlural: counts are written in the right form in each language
// (French counts 0 and 1 as singular, English only 1), and each counted
// key has both forms in both catalogs.
func TestPlural(t *testing.T) {
	cat, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"en": {"0 ballots answer this question", "1 ballot answers this question", "2 ballots answer this question"},
		"fr": {"0 bulletin répond à cette question", "1 bulletin répond à cette question", "2 bulletins répondent à cette question"},
	}
	for lang, forms := range want {
		tm, err := parseTemplates(lang, cat[lang])
		if err != nil {
			t.Fatal(err)
		}
		x, err := tm.New("x").Parse(`{{t (plural "results.caption" .) (num .)}}`)
		if err != nil {
			t.Fatal(err)
		}
		for n, w := range forms {
			var b strings.Builder
			if err := x.Execute(&b, n); err != nil {
				t.Fatal(err)
			}
			if b.String() != w {
				t.Errorf("%s, %d: %q, want %q", lang, n, b.String(), w)
			}
		}
		for _, base := range []string{"results.caption", "results.turnoutOf", "console.turnoutOf", "console.ballotsCount", "console.fromVoters"} {
			for _, form := range []string{".one", ".other"} {
				if _, ok := cat[lang][base+form]; !ok {
					t.Errorf("%s: %s has no %s form", lang, base, form)
				}
			}
		}
	}
}
