package web

// The trustee page, /e/{id}/trustee (issue 16): a trustee makes its
// identity, then takes part in the key ceremony and in decryption, in the
// browser. Everything it does is in the trustee module
// (static/scrutin-trustee.wasm, built from ./wasm with the tag trustee)
// driven by static/trustee.js: the page reads and verifies the election's
// log itself, and its secrets stay in the browser, in a keystore file the
// trustee keeps (docs/spec.md §13.5).
//
// Trustees are invited, and make their identity, before the election's
// manifest is recorded, while only its staff may know it exists (spec
// §22.4): the page is then the same for every well-formed id, whether an
// election has it or not, and says nothing of it.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/scrutin/scrutin/store"
)

// trusteeView is what the trustee page's template gets.
type trusteeView struct {
	Msgs       string // the catalog's "tjs." messages, JSON
	WorkFactor int    // the keystore's scrypt work factor; 0 (the default) but in tests
}

// trusteeWorkFactor is set only by the web package's tests
// (export_test.go), to make keystores quickly; it is never an option.
var trusteeWorkFactor int

func (s *Site) trusteePage(w http.ResponseWriter, r *http.Request) {
	lang := language(r)
	id := r.PathValue("id")
	if s.o.Elections == nil || store.CheckID(id) != nil {
		s.notFound(w, r, http.StatusNotFound)
		return
	}
	var p *pageData
	if es, _ := s.election(r.Context(), id); es != nil && es.public() {
		p = s.electionData(r, es, lang, "trustee")
	} else {
		base := "/e/" + url.PathEscape(id)
		p = &pageData{Lang: lang, Path: r.URL.Path, Page: "page.trustee", ID: id, Base: base, URL: s.baseURL(r) + base, State: &summary{}}
	}
	msgs := map[string]string{}
	for k, v := range s.cat[lang] {
		if rest, ok := strings.CutPrefix(k, "tjs."); ok {
			msgs[rest] = v
		}
	}
	b, _ := json.Marshal(msgs)
	p.Data = &trusteeView{Msgs: string(b), WorkFactor: trusteeWorkFactor}
	s.render(w, http.StatusOK, "trustee.html", p)
}
