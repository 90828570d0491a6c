package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLearnerIDFoldingOverHTTP posts for l000123 and L000123 and reads
// the learner by either spelling, as an admin, as the learner (a token
// whose sub is in the other case) and as the institution that posted: one
// learner, shown as L000123, with one transcript and one balance.
func TestLearnerIDFoldingOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	_, body := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: c.outcome("l000123", "3"), want: 201})
	var posted struct {
		Learner string `json:"learner"`
	}
	if err := json.Unmarshal(body, &posted); err != nil || posted.Learner != "L000123" {
		t.Fatalf("posted as l000123, stored as %q: %s", posted.Learner, body)
	}
	c.post(t, c.outcome("L000123", "2"))
	grantAccess(t, c.s, "l000123", "college.example") // the college reads under the learner's grant

	readers := []struct{ name, token string }{
		{"admin", c.adm},
		{"learner l000123", c.s.token(t, "learner", "l000123")},
		{"learner L000123", c.s.token(t, "learner", "L000123")},
		{"the college", c.college},
	}
	for _, rd := range readers {
		var transcripts, balances []string
		for _, id := range []string{"L000123", "l000123"} {
			_, tr := c.ck.call(t, request{route: "transcript", path: "/v1/learners/" + id + "/transcript", token: rd.token, want: 200})
			var page struct {
				Learner  string            `json:"learner"`
				Outcomes []json.RawMessage `json:"outcomes"`
			}
			if err := json.Unmarshal(tr, &page); err != nil || page.Learner != "L000123" || len(page.Outcomes) != 2 {
				t.Errorf("%s reads %s's transcript: learner %q, %d outcomes; want L000123 and 2", rd.name, id, page.Learner, len(page.Outcomes))
			}
			transcripts = append(transcripts, string(tr))
			_, bal := c.ck.call(t, request{route: "balance", path: "/v1/learners/" + id + "/balance", token: rd.token, want: 200})
			balances = append(balances, string(bal))
		}
		if transcripts[0] != transcripts[1] || balances[0] != balances[1] {
			t.Errorf("%s: L000123 and l000123 read differently:\n%s\n%s\n%s\n%s", rd.name, transcripts[0], transcripts[1], balances[0], balances[1])
		}
		if !strings.Contains(balances[0], `"learner":"L000123"`) || !strings.Contains(balances[0], `"standard_credits":"5"`) {
			t.Errorf("%s: balance %s, want 5 standard credits", rd.name, balances[0])
		}
	}
	// Another learner still may not read it.
	c.ck.call(t, request{route: "transcript", path: "/v1/learners/l000123/transcript", token: c.s.token(t, "learner", "L000124"), want: 403})

	// The learner converts for itself in the other case.
	_, conv := c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: c.s.token(t, "learner", "l000123"),
		body: map[string]any{"learner": "L000123", "rule": "to-bsc"}, want: 201})
	if !strings.Contains(string(conv), `"learner":"L000123"`) || !strings.Contains(string(conv), `"granted":"5"`) {
		t.Errorf("conversion %s", conv)
	}
	// The entry names the learner who asked by the one reference of the
	// canonical id (a token's sub is folded as every other learner id is),
	// and the id nowhere.
	var res struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(conv, &res); err != nil {
		t.Fatal(err)
	}
	entry, err := c.s.ledger.Entry(res.Seq)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.s.bank.LearnerRef("L000123")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(entry), `"actor":"learner:`+ref+`"`) || strings.Contains(strings.ToUpper(string(entry)), "L000123") {
		t.Errorf("conversion entry %s, want actor learner:%s and no plain learner id", entry, ref)
	}
}

// TestLearnerIDPersonalOverHTTP posts and converts for learner ids that
// look like national identity numbers: 422 learner-id-personal, alone or
// as a batch item, and nothing written.
func TestLearnerIDPersonalOverHTTP(t *testing.T) {
	c := newCVSetup(t)
	size := c.s.ledger.Size()
	for _, id := range []string{"110101199003071234", "11010119900307123x", "123456789"} {
		_, body := c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, body: c.outcome(id, "3"), want: 422})
		var p Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Type != problemBase+"learner-id-personal" || !strings.Contains(p.Detail, strings.ToUpper(id)) {
			t.Errorf("post for %s: %s", id, body)
		}
		_, body = c.ck.call(t, request{route: "postOutcomes", path: "/v1/outcomes", token: c.college, want: 200,
			body: map[string]any{"outcomes": []any{c.outcome(id, "3")}}})
		var batch struct {
			Results []batchResult `json:"results"`
		}
		if err := json.Unmarshal(body, &batch); err != nil || len(batch.Results) != 1 || batch.Results[0].Error == nil ||
			batch.Results[0].Error.Type != problemBase+"learner-id-personal" || batch.Results[0].Error.Status != 422 {
			t.Errorf("batch for %s: %s", id, body)
		}
		_, body = c.ck.call(t, request{route: "convert", path: "/v1/conversions", token: c.adm,
			body: map[string]any{"learner": id, "rule": "to-bsc"}, want: 422})
		if err := json.Unmarshal(body, &p); err != nil || p.Type != problemBase+"learner-id-personal" {
			t.Errorf("conversion for %s: %s", id, body)
		}
	}
	if c.s.ledger.Size() != size {
		t.Error("refused learner ids wrote entries")
	}
}

// TestRefusedNameOverHTTP registers institutions under names that look
// like others or hide characters: 422 invalid naming the character, and
// nothing written. The lone surrogate is sent as a JSON escape, which the
// decoder turns into U+FFFD.
func TestRefusedNameOverHTTP(t *testing.T) {
	s := newTestServer(t)
	ck := newOASChecker(t, s)
	k, err := GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public()
	key, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	adm := s.token(t, "admin", "root")
	size := s.ledger.Size()
	for _, tc := range []struct{ name, nameJSON, detail string }{
		{"right-to-left override", `"Tsinghua \u202eytisrevinU"`, "U+202E"},
		{"zero width space", `"Tsing\u200bhua University"`, "U+200B"},
		{"lone surrogate", `"Tsinghua \ud800 University"`, "U+FFFD"},
		{"cyrillic in a latin word", `"T\u0455inghua University"`, "mixes scripts"},
		{"whole-script lookalike", `"\u0410\u0421\u041c\u0415 University"`, "look like the Latin"},
	} {
		body := []byte(`{"id":"spoof.example","name":` + tc.nameJSON + `,"kind":"university","keys":[` + string(key) + `]}`)
		_, answer := ck.call(t, request{route: "registerInstitution", path: "/v1/institutions", token: adm, body: body, want: 422})
		var p Problem
		if err := json.Unmarshal(answer, &p); err != nil || p.Type != problemBase+"invalid" || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %s, want invalid naming %s", tc.name, answer, tc.detail)
		}
	}
	if s.ledger.Size() != size {
		t.Error("refused names wrote entries")
	}
}
