package vectors

// spec: §18.7 extending the voting window

import (
	"fmt"
	"strings"

	"github.com/scrutin/scrutin/election"
)

// windowRecords adds records.json's cases of extension entries (spec
// §18.7). The base record's window closes at 2027-03-08T18:00:00Z; the
// extensions go after the ballots, before the close entry.
func (g *gen) windowRecords(f *RecordFile, b *recordBase, baseCounts [][]uint64) {
	n := len(b.log)
	ext := func(at, closes, reason string) []byte {
		return (&election.Extension{At: at, Closes: closes, Reason: reason}).Entry()
	}
	const reason = "The voting service was unreachable from 14:00 to 17:30."
	one := ext("2027-03-08T17:40:00Z", "2027-03-09T18:00:00Z", reason)
	valid := func(comment string, exts ...[]byte) {
		steps := append([]RecordStep{cp(0, b.close)}, ents(exts)...)
		steps = append(steps, cp(b.close, n))
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Valid: true, Decided: true, Invalid: []RecordFailure{}, Counts: baseCounts})
	}
	invalid := func(comment, kind string, steps ...RecordStep) {
		at := 0
		for _, s := range steps {
			if s.Copy != nil {
				at += s.Copy[1] - s.Copy[0]
			} else {
				at++
			}
		}
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Invalid: []RecordFailure{{at - 1, kind}}})
	}
	valid("voting extended by one day, before the end, with a reason: the end in force is 2027-03-09T18:00:00Z", one)
	valid("voting extended twice, each time before the end in force and to a later end", one, ext("2027-03-09T12:00:00Z", "2027-03-10T12:00:00Z", "The outage came back on the morning of the 9th."))
	valid("voting extended to exactly 7 days after the planned end", ext("2027-03-08T17:00:00Z", "2027-03-15T18:00:00Z", reason))
	{
		var exts [][]byte
		for i := range election.MaxExtensions {
			exts = append(exts, ext(fmt.Sprintf("2027-03-08T17:%02d:00Z", i), fmt.Sprintf("2027-03-08T18:%02d:00Z", i+1), reason))
		}
		valid("voting extended 10 times by a minute, the most an election allows", exts...)
		eleventh := ext("2027-03-08T17:50:00Z", "2027-03-08T18:30:00Z", reason)
		invalid("an 11th extension entry", KindOrder, append(append([]RecordStep{cp(0, b.close)}, ents(exts)...), ent(eleventh))...)
	}
	invalid("an extension after the close entry", KindOrder, cp(0, b.close+1), ent(one))
	invalid("an extension before the open entry", KindOrder, cp(0, b.open), ent(one))
	invalid("an extension to an earlier end than the planned one", KindContent, cp(0, b.close), ent(ext("2027-03-08T12:00:00Z", "2027-03-08T17:00:00Z", reason)))
	invalid("an extension to the end in force itself", KindContent, cp(0, b.close), ent(ext("2027-03-08T12:00:00Z", "2027-03-08T18:00:00Z", reason)))
	invalid("a second extension to an end earlier than the first one's", KindContent, cp(0, b.close), ent(one), ent(ext("2027-03-08T19:00:00Z", "2027-03-09T12:00:00Z", reason)))
	invalid("an extension to one second more than 7 days after the planned end", KindContent, cp(0, b.close), ent(ext("2027-03-08T17:00:00Z", "2027-03-15T18:00:01Z", reason)))
	invalid("an extension recorded at the end in force, when voting had ended", KindContent, cp(0, b.close), ent(ext("2027-03-08T18:00:00Z", "2027-03-09T18:00:00Z", reason)))
	invalid("an extension recorded after the end in force", KindContent, cp(0, b.close), ent(ext("2027-03-08T19:00:00Z", "2027-03-09T18:00:00Z", reason)))
	invalid("a second extension recorded after the first one's end", KindContent, cp(0, b.close), ent(one), ent(ext("2027-03-09T18:30:00Z", "2027-03-10T18:00:00Z", reason)))
	invalid("an extension whose reason is empty", KindContent, cp(0, b.close), ent(ext("2027-03-08T17:40:00Z", "2027-03-09T18:00:00Z", "")))
	invalid("an extension whose reason is 501 bytes", KindContent, cp(0, b.close), ent(ext("2027-03-08T17:40:00Z", "2027-03-09T18:00:00Z", strings.Repeat("r", 501))))
	invalid("an extension whose new end has an offset, +00:00", KindContent, cp(0, b.close), ent(ext("2027-03-08T17:40:00Z", "2027-03-09T18:00:00+00:00", reason)))
	invalid("an extension without its reason member", KindEncoding, cp(0, b.close), ent(append([]byte{election.TypeExtension}, `{"at":"2027-03-08T17:40:00Z","closes":"2027-03-09T18:00:00Z"}`...)))
}
