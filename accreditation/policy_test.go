package accreditation

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of the accreditation policy table (policy.go,
// docs/accreditation-policy.md).

// TestAccreditationPolicyTable checks the built-in table against the
// contract's kinds and against the table docs/accreditation-policy.md
// shows, cell by cell.
func TestAccreditationPolicyTable(t *testing.T) {
	if _, err := parsePolicy(policyJSON); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, sector string
		want         int
	}{
		{"university", "degree", 10},
		{"university", "elderly", 10},
		{"community_school", "degree", 0},
		{"community_school", "community", 5},
		{"cultural_venue", "vocational", 0},
		{"vocational_college", "degree", 6},
	} {
		if got := PolicyMaxLevel(tc.kind, tc.sector); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.kind, tc.sector, got, tc.want)
		}
	}
	doc, err := os.ReadFile("../docs/accreditation-policy.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		kind := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if len(cells) != 1+len(sectors) || accreditationPolicy[kind] == nil {
			continue
		}
		rows++
		for i, sector := range sectors {
			want := strconv.Itoa(PolicyMaxLevel(kind, sector))
			if want == "0" {
				want = "–"
			}
			if got := strings.TrimSpace(cells[1+i]); got != want {
				t.Errorf("docs/accreditation-policy.md: %s %s shows %q, the table holds %s", kind, sector, got, want)
			}
		}
	}
	if rows != len(institutionKinds) {
		t.Errorf("docs/accreditation-policy.md shows %d kinds, want %d", rows, len(institutionKinds))
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	full := func(extra string) string {
		var rows []string
		for _, k := range institutionKinds {
			rows = append(rows, strconv.Quote(k)+`:{"degree":5}`)
		}
		return `{"about":"x","kinds":{` + strings.Join(rows, ",") + extra + `}}`
	}
	if _, err := parsePolicy([]byte(full(""))); err != nil {
		t.Fatalf("a good table: %v", err)
	}
	for name, data := range map[string]string{
		"unknown kind":    full(`,"castle":{"degree":5}`),
		"missing kind":    `{"kinds":{"university":{"degree":10}}}`,
		"unknown sector":  strings.Replace(full(""), `"university":{"degree":5}`, `"university":{"magic":5}`, 1),
		"level 11":        strings.Replace(full(""), `"university":{"degree":5}`, `"university":{"degree":11}`, 1),
		"level 0":         strings.Replace(full(""), `"university":{"degree":5}`, `"university":{"degree":0}`, 1),
		"unknown member":  strings.Replace(full(""), `"about":"x"`, `"about":"x","comment":"y"`, 1),
		"not JSON at all": `kinds: university`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parsePolicy([]byte(data)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAccreditationPolicyEnforced(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	if _, err := b.RegisterInstitution(ctx, admin, Registration{ID: "village.example", Name: "Village School", Kind: "community_school",
		Keys: []PublicJWK{testKey(t, "v1")}}); err != nil {
		t.Fatal(err)
	}
	scope := func(level int, sectors ...string) AccreditationInput {
		return AccreditationInput{Sectors: sectors, MaxLevel: level, ValidFrom: "2020-01-01", ValidUntil: "2030-12-31"}
	}
	for _, tc := range []struct {
		name  string
		actor Actor
		scope AccreditationInput
		want  Code
	}{
		{"a sector the kind may not have", regulator, scope(3, "community", "degree"), CodeAccreditationPolicy},
		{"above the kind's level", admin, scope(6, "community"), CodeAccreditationPolicy},
		{"an override from an institution", Actor{Role: RoleInstitution, ID: "village.example"},
			AccreditationInput{Sectors: []string{"degree"}, MaxLevel: 6, ValidFrom: "2020-01-01", ValidUntil: "2030-12-31", OverrideReason: "x"}, CodeForbidden},
		{"an override reason with a control character", regulator,
			AccreditationInput{Sectors: []string{"degree"}, MaxLevel: 6, ValidFrom: "2020-01-01", ValidUntil: "2030-12-31", OverrideReason: "a\tb"}, CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			_, err := b.Accredit(ctx, tc.actor, "village.example", tc.scope)
			rtCode(t, err, tc.want)
			if b.Ledger().Size() != size {
				t.Fatal("a refused accreditation wrote")
			}
		})
	}
	inside, err := b.Accredit(ctx, regulator, "village.example", scope(5, "community", "elderly"))
	if err != nil || inside.OutsidePolicy != "" || inside.OverrideReason != "" {
		t.Fatalf("inside the table: %+v, %v", inside, err)
	}
	over := scope(6, "degree")
	over.OverrideReason = "pilot with the county open university"
	granted, err := b.Accredit(ctx, regulator, "village.example", over)
	if err != nil {
		t.Fatal(err)
	}
	if granted.OverrideReason != over.OverrideReason || !strings.Contains(granted.OutsidePolicy, "not for degree outcomes") {
		t.Fatalf("override granted %+v", granted)
	}
	var content Accredited
	if err := json.Unmarshal(rlEntry(t, b, granted.Seq).Content, &content); err != nil {
		t.Fatal(err)
	}
	if content.OverrideReason != over.OverrideReason || content.OutsidePolicy != granted.OutsidePolicy {
		t.Fatalf("entry content %+v", content)
	}
	in := hiInstitution(t, b, "village.example")
	if h := in.History[len(in.History)-1]; h.Event != EventAccredited || h.Seq != granted.Seq || h.Reason != over.OverrideReason {
		t.Fatalf("history event %+v", h)
	}
	// The overriding accreditation admits what it names.
	o := outcome("L1", "degree-at-the-village")
	o.Sector = "degree"
	b.post(t, Actor{Role: RoleInstitution, ID: "village.example"}, o)
	b.checkReplay(t)
}

// TestAccreditationsNotJudgedAgain replays an accreditation granted
// before the policy table existed, beyond it and without an override: it
// stands.
func TestAccreditationsNotJudgedAgain(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	rp := replayed(t, handJournal(at, []handEntry{
		{TypeInstitutionRegistered, "admin:root", `{"id":"venue.example","name":"Museum","kind":"cultural_venue","keys":[]}`},
		{TypeAccredited, "admin:root", `{"institution":"venue.example","sectors":["degree"],"max_level":10,"valid_from":"2000-01-01","valid_until":"2099-12-31"}`},
	}))
	in, err := getJSON[Institution](rp.state, instKey("venue.example"))
	if err != nil || len(in.Accreditations) != 1 || !in.Accreditations[0].covers("degree", 10, "2025-01-01") {
		t.Fatalf("replayed institution %+v, %v", in, err)
	}
}
