package web

// The trustees' progress on the officer's console, derived from the
// election's state: who dealt, checked and confirmed (spec §13.2), who was
// excluded from the key and why (§13.3), and who decrypted (§14.1).

import (
	"crypto/sha256"
	"slices"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// trusteeRow is one trustee of the roster on the console.
type trusteeRow struct {
	Index     int
	Name      string
	Dealt     bool
	Checked   bool // sent a complaints message (with or without complaints)
	Confirmed bool
	Decrypted bool
	Next      string // the command this trustee runs next: deal, check, finish, decrypt; "" if none
}

// trusteeNotice names a trustee who cheated, failed or was excluded, in one
// of the cases of spec §13.3; Kind selects the console's words.
type trusteeNotice struct {
	Kind      string // equivocated, badShares, noDealing, falseComplaint, failed
	Index     int
	Name      string
	Other     int // falseComplaint: the dealer accused
	OtherName string
	Qualified int // failed: how many trustees can still make the key
	Threshold int
}

// trusteesView is the trustees' part of the console.
type trusteesView struct {
	Rows      []trusteeRow
	Notices   []trusteeNotice
	Tallied   bool // decryption shares are expected or recorded
	Decrypted int
	Threshold int
	Waiting   []string // commands some trustee still has to run, in order
}

// Waits lists the trustees whose next step is cmd.
func (v *trusteesView) Waits(cmd string) []trusteeRow {
	var out []trusteeRow
	for _, r := range v.Rows {
		if r.Next == cmd {
			out = append(out, r)
		}
	}
	return out
}

// trusteeProgress derives the trustees' progress from the election's state.
func trusteeProgress(st *election.State) *trusteesView {
	if st.Manifest == nil {
		return nil
	}
	r := &st.Manifest.Roster
	n, t := r.N(), r.Threshold
	v := &trusteesView{Threshold: t, Tallied: st.Tally != nil}
	out := st.Ceremony
	complete := out != nil && out.Complete
	inTranscript := make(map[[sha256.Size]byte]bool)
	if out != nil {
		for _, h := range out.Transcript {
			inTranscript[h] = true
		}
	}
	dealings := make(map[int]int)
	for i := 1; i <= n; i++ {
		v.Rows = append(v.Rows, trusteeRow{Index: i, Name: r.Trustees[i-1].Name})
	}
	type accusation struct{ by, dealer int }
	var accusations []accusation
	for _, msg := range st.CeremonyMessages() {
		typ, j, err := crypto.CheckCeremonyMessage(r, msg)
		if err != nil || j < 1 || j > n {
			continue
		}
		switch typ {
		case 1:
			v.Rows[j-1].Dealt = true
			// Once the key is fixed, only the confirmed transcript's
			// dealings count (§13.3); a later one is ignored.
			if !complete || inTranscript[sha256.Sum256(msg)] {
				dealings[j]++
			}
		case 2:
			v.Rows[j-1].Checked = true
			if !complete || inTranscript[sha256.Sum256(msg)] {
				against, _ := crypto.ComplaintsAgainst(r, msg) // the election checked it
				for _, i := range against {
					accusations = append(accusations, accusation{j, i})
				}
			}
		}
	}
	qualified := func(i int) bool { return out != nil && slices.Contains(out.Qualified, i) }
	if out != nil {
		for _, j := range out.Confirmed {
			if j >= 1 && j <= n {
				v.Rows[j-1].Confirmed = true
			}
		}
	}
	for _, j := range st.Decrypted() {
		if j >= 1 && j <= n {
			v.Rows[j-1].Decrypted = true
			v.Decrypted++
		}
	}
	excluded := 0
	for i := 1; i <= n; i++ {
		row := v.Rows[i-1]
		switch {
		case dealings[i] > 1:
			excluded++
			v.Notices = append(v.Notices, trusteeNotice{Kind: "equivocated", Index: i, Name: row.Name})
		case row.Dealt && dealings[i] == 0:
			v.Notices = append(v.Notices, trusteeNotice{Kind: "lateDealing", Index: i, Name: row.Name})
		case row.Dealt && out != nil && !qualified(i):
			// A valid dealing, not equivocated, and not in QUAL: a founded
			// complaint (§13.3 step 3).
			excluded++
			v.Notices = append(v.Notices, trusteeNotice{Kind: "badShares", Index: i, Name: row.Name})
		case !row.Dealt && complete:
			v.Notices = append(v.Notices, trusteeNotice{Kind: "noDealing", Index: i, Name: row.Name})
		}
	}
	// A complaint against a dealer who stayed in QUAL was unfounded or not
	// proved (§13.3 step 2): the accuser is named, nothing changes.
	named := make(map[accusation]bool)
	for _, a := range accusations {
		if a.dealer >= 1 && a.dealer <= n && qualified(a.dealer) && !named[a] {
			named[a] = true
			v.Notices = append(v.Notices, trusteeNotice{Kind: "falseComplaint", Index: a.by, Name: v.Rows[a.by-1].Name, Other: a.dealer, OtherName: v.Rows[a.dealer-1].Name})
		}
	}
	if !complete && n-excluded < t {
		v.Notices = append(v.Notices, trusteeNotice{Kind: "failed", Qualified: n - excluded, Threshold: t})
	}
	// What each trustee runs next.
	for i := range v.Rows {
		row := &v.Rows[i]
		switch {
		case st.Phase == election.PhaseSetup && !complete && !row.Dealt:
			row.Next = "deal"
		case st.Phase == election.PhaseSetup && !complete && !row.Checked:
			row.Next = "check"
		case st.Phase == election.PhaseSetup && !complete && !row.Confirmed:
			row.Next = "finish"
		case st.Phase == election.PhaseTallied && !row.Decrypted:
			row.Next = "decrypt"
		}
	}
	for _, cmd := range []string{"deal", "check", "finish", "decrypt"} {
		if len(v.Waits(cmd)) > 0 {
			v.Waiting = append(v.Waiting, cmd)
		}
	}
	return v
}
