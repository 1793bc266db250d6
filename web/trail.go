package web

// The staff audit trail as people read it (issue 17): each event a line in
// words, in the reader's language and time, its details as labelled
// values, rather than the raw key="value" pairs the trail keeps.

import (
	"fmt"
	"strings"
	"time"

	"github.com/scrutin/scrutin/accounts"
)

// trailLine is one event of the trail, in words.
type trailLine struct {
	Seq     int64
	At      time.Time
	Actor   string
	Client  string
	Action  string // the event's name in the trail, for those who search it
	What    string
	Details []trailDetail
}

type trailDetail struct{ Label, Value string }

// trailLines writes the events in the language.
func (s *Site) trailLines(lang string, events []accounts.TrailEvent) []trailLine {
	out := make([]trailLine, 0, len(events))
	for _, e := range events {
		l := trailLine{Seq: e.Seq, At: e.At, Actor: e.Actor, Client: e.Client, Action: e.Action}
		l.What = s.catalogOr(lang, "trail."+e.Action, e.Action)
		for _, f := range e.Fields {
			if e.Action == "election.action" && f.Key == "action" {
				l.What = s.catalogOr(lang, "trail.do."+f.Value, "")
				if l.What == "" {
					l.What = fmt.Sprintf(s.msg(lang, "trail.do.other"), f.Value)
				}
				l.Action += " " + f.Value
				continue
			}
			v := f.Value
			switch f.Key {
			case "reason":
				v = s.catalogOr(lang, "trail.reason."+strings.ReplaceAll(v, " ", "-"), v)
			case "kind":
				v = s.catalogOr(lang, "trail.kind."+v, v)
			case "result":
				if v == "done" || v == "started" {
					v = s.msg(lang, "trail."+v)
				} else if why, ok := strings.CutPrefix(v, "refused: "); ok {
					v = fmt.Sprintf(s.msg(lang, "trail.refused"), why)
				}
			case "role":
				v = s.catalogOr(lang, "trail.role."+v, v)
			case "election":
				if v == accounts.AllElections {
					v = s.msg(lang, "trail.allElections")
				}
			}
			l.Details = append(l.Details, trailDetail{Label: s.catalogOr(lang, "trail.field."+f.Key, f.Key), Value: v})
		}
		out = append(out, l)
	}
	return out
}

// catalogOr is the catalog's text for key, or def if it has none.
func (s *Site) catalogOr(lang, key, def string) string {
	if m, ok := s.cat[lang][key]; ok {
		return m
	}
	return def
}
