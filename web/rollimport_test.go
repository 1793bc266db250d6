package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
)

// messyRoll is a roll as members' secretaries keep them: extra columns,
// a byte-order mark, spaces, capitals, a duplicate, a bad address, a
// lapsed member and a row without a number.
const messyRoll = "\ufeffNo, Full name ,E-mail,Status,Notes,Branch\n" +
	"M1,Ann Aubert,ann@example.org,active,paid,exec;north\n" +
	"M2,Ben Brun,BEN@example.org,Active,,north\n" +
	"M3,Cléo Caron,cleo@example.org,lapsed,owes 2026,north\n" +
	"M4,Dan Dupuis,not-an-address,active,,exec\n" +
	"M2,Ben Brun again,ben2@example.org,active,,north\n" +
	",Nobody,no@example.org,active,,\n" +
	"M5,Eve Été,eve@example.org,active,\"says \"\"hi\"\"\",exec\n"

// postRoll posts a roll step as the page's form does (multipart).
func postRoll(t *testing.T, u string, fields map[string]string, file []byte, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("csv", "members.csv")
		fw.Write(file)
	}
	w.Close()
	return send(t, "POST", u, w.FormDataContentType(), b.String(), ck)
}

var selectedRE = regexp.MustCompile(`(?s)<select id="map-([a-z]+)"[^>]*>.*?</select>`)

// TestRollImport: the officer uploads a messy file; the columns are
// guessed; without the member number's column the import is refused at
// that field, with the file kept; the report lists each refused row and
// why; recording it records the roll's commitment, with the count, and
// hands back the roll for the credential authority.
func TestRollImport(t *testing.T) {
	f, base, id, admin := recordedElection(t)
	u := base + "/e/" + id + "/console/roll"
	if resp, page := send(t, "GET", u, "", "", admin); resp.StatusCode != 200 || !strings.Contains(page, `id="roll-csv"`) || strings.Contains(page, "MISSING") {
		t.Fatalf("the upload page: %s", resp.Status)
	}
	// Too big, another encoding, no file: said so, in words.
	if resp, page := postRoll(t, u, map[string]string{"step": "upload"}, bytes.Repeat([]byte("M1,x\n"), 9<<20/5), admin); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "too big: at most 8 MB") {
		t.Errorf("an oversized file: %s %.300s", resp.Status, page)
	}
	latin1 := []byte("No,Name\nM1,Ren\xe9\n")
	if resp, page := postRoll(t, u, map[string]string{"step": "upload"}, latin1, admin); resp.StatusCode != 400 || !strings.Contains(page, "CSV UTF-8") || !strings.Contains(page, `id="roll-csv-err"`) {
		t.Errorf("a Windows-1252 file: %s %.3000s", resp.Status, page)
	}
	latin1 = []byte("No,Name\nM1,Ren\xe9\n")
	if resp, page := postRoll(t, u, map[string]string{"step": "check", "data": string(latin1), "map.id": "No"}, nil, admin); resp.StatusCode != 400 || !strings.Contains(page, "UTF-8") {
		t.Errorf("a Windows-1252 file, at the check: %s", resp.Status)
	}
	if resp, _ := postRoll(t, u, map[string]string{"step": "upload"}, nil, admin); resp.StatusCode != 400 {
		t.Errorf("no file: %s", resp.Status)
	}
	resp, page := postRoll(t, u, map[string]string{"step": "upload"}, []byte(messyRoll), admin)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %s %s", resp.Status, page)
	}
	guessed := map[string]string{}
	for _, m := range selectedRE.FindAllStringSubmatch(page, -1) {
		if s := regexp.MustCompile(`<option value="([^"]*)" selected>`).FindStringSubmatch(m[0]); s != nil {
			guessed[m[1]] = html.UnescapeString(s[1])
		}
	}
	if guessed["id"] != "No" || guessed["email"] != "E-mail" || guessed["name"] != "Full name" || guessed["status"] != "Status" || guessed["groups"] != "Branch" {
		t.Errorf("guessed columns: %v", guessed)
	}
	data := html.UnescapeString(regexp.MustCompile(`<input type="hidden" name="data" value="([^"]*)">`).FindStringSubmatch(page)[1])
	if data != messyRoll {
		t.Fatalf("the file is not carried as uploaded: %q", data)
	}
	fields := map[string]string{"step": "check", "data": data, "name": "members.csv", "map.id": "", "map.email": "E-mail", "map.status": "Status", "map.groups": "Branch", "rule.statuses": "active"}
	resp, page = postRoll(t, u, fields, nil, admin)
	if resp.StatusCode != 400 || !strings.Contains(page, `id="map-id-err"`) || !strings.Contains(page, "Choose the column that holds the member number") || !strings.Contains(page, `value="active"`) {
		t.Errorf("no member number: %s %.3000s", resp.Status, page)
	}
	fields["map.id"] = "No"
	resp, page = postRoll(t, u, fields, nil, admin)
	if resp.StatusCode != 200 || !strings.Contains(page, "7 rows read: 2 members may vote; 5 rows") {
		t.Fatalf("the report: %s %s", resp.Status, page)
	}
	for _, want := range []string{"duplicate member id", "not eligible: membership status", "implausible e-mail address", "no member id", `id="roll-record"`, "Record the roll of 2 members"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	e, err := f.Registry.Election(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 { n, _ := e.Size(context.Background()); return n }
	if n := size(); n != 1 {
		t.Errorf("checking recorded something: %d entries", n)
	}
	fields["step"] = "record"
	resp, page = postRoll(t, u, fields, nil, admin)
	if resp.StatusCode != 200 || !strings.Contains(page, "The roll is recorded: 2 members may vote.") {
		t.Fatalf("record: %s %s", resp.Status, page)
	}
	var voters int
	e.State(func(s *election.State) {
		if s.Roll != nil {
			voters = s.Roll.Voters
		}
	})
	if voters != 2 {
		t.Errorf("the roll recorded has %d voters", voters)
	}
	m := regexp.MustCompile(`href="data:application/json;base64,([^"]+)" download="roll.json"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no roll to download")
	}
	b, _ := base64.StdEncoding.DecodeString(m[1])
	if !strings.Contains(string(b), `"id": "M1"`) || !strings.Contains(string(b), `"id": "M5"`) || strings.Contains(string(b), "M3") {
		t.Errorf("the roll downloaded: %s", b)
	}
	_, trail := send(t, "GET", base+"/e/"+id+"/console/trail", "", "", admin)
	if !strings.Contains(trail, `data-event="election.action roll"`) || !strings.Contains(trail, "Imported the roll") {
		t.Error("the trail does not record the roll's import")
	}
	// Once recorded, no second roll.
	if resp, _ := postRoll(t, u, fields, nil, admin); resp.StatusCode != http.StatusConflict {
		t.Errorf("a second roll: %s", resp.Status)
	}
}
