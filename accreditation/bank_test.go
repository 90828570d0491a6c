package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// TestWalkThrough runs the contract's story end to end: register, accredit,
// post, publish a rule, convert, revoke (which reverses the outcome's item
// only), and checks the replay rebuilds the same state with nothing to
// report.
func TestWalkThrough(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	college := b.institution(t, "college.example")
	b.institution(t, "univ.example")
	s1 := b.post(t, college, outcome("L000123", "k1"))
	o2 := outcome("L000123", "k2")
	o2.Credits.Amount = 1000 // 10 credits
	s2 := b.post(t, college, o2)
	rule, err := b.PublishRule(ctx, regulator, RuleInput{
		ID: "nd-cs-to-bsc", Target: Target{Institution: "univ.example", Programme: "BSC-CS"},
		Source: RuleSource{Sectors: []string{"non_degree", "vocational"}, MinLevel: 5, Fields: []string{"06"}, MinScore: amountPtr(6000)},
		Ratio:  5000, Cap: amountPtr(500), ValidFrom: "2026-01-01",
	})
	if err != nil {
		t.Fatal(err)
	}
	if rule.Version != 1 {
		t.Fatalf("version %d", rule.Version)
	}
	conv, err := b.Convert(ctx, Actor{Role: RoleLearner, ID: "L000123"}, ConversionRequest{Learner: "L000123", Rule: "nd-cs-to-bsc"})
	if err != nil {
		t.Fatal(err)
	}
	// 3 credits → 3 standard → 1.5 granted; 10 → 10 → 5, capped at 5 − 1.5 = 3.5.
	if conv.Granted != 500 || !conv.Capped || len(conv.Items) != 2 || conv.Items[1].Granted != 350 {
		t.Fatalf("conversion %+v", conv)
	}
	bal, err := b.Balance("L000123")
	if err != nil {
		t.Fatal(err)
	}
	if bal.StandardCredits != 1300 || bal.Granted["univ.example/BSC-CS"] != 500 {
		t.Fatalf("balance %+v", bal)
	}
	rev, err := b.Revoke(ctx, college, s1, "posted in error")
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Reversals) != 1 || rev.Reversals[0] != conv.Seq+2 {
		t.Fatalf("revocation %+v (conversion %d)", rev, conv.Seq)
	}
	// Only the revoked outcome's item is reversed: s2's 3.5 stand.
	bal, _ = b.Balance("L000123")
	if bal.StandardCredits != 1000 || bal.Granted["univ.example/BSC-CS"] != 350 {
		t.Fatalf("balance after revocation %+v", bal)
	}
	// The 1.5 of the cap it freed go to another outcome.
	o3 := outcome("L000123", "k3")
	o3.Unit.Code = "CS102"
	s3 := b.post(t, college, o3)
	conv2, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L000123", Rule: "nd-cs-to-bsc", Outcomes: []uint64{s2, s3, s1}})
	if err != nil {
		t.Fatal(err)
	}
	if conv2.Granted != 150 || !conv2.Capped || len(conv2.Ineligible) != 2 || conv2.Ineligible[0].Reason != ReasonAlreadyUsed || conv2.Ineligible[1].Reason != ReasonRevoked {
		t.Fatalf("second conversion %+v", conv2)
	}
	tr, err := b.Transcript("L000123", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Outcomes) != 3 || tr.Outcomes[0].Status != "revoked" || len(tr.Conversions) != 2 || tr.Conversions[0].Status != "adjusted" {
		t.Fatalf("transcript %+v", tr)
	}
	page, err := b.AuditConversions(AuditFilter{Institution: "college.example"}, "", 10)
	if err != nil || len(page.Conversions) != 2 {
		t.Fatalf("audit page %+v %v", page, err)
	}
	b.checkReplay(t)
}

// TestTranscriptUndecodedJSON: a transcript read with its outcomes left
// undecoded writes the same document as one decoded in full.
func TestTranscriptUndecodedJSON(t *testing.T) {
	b := newTestBank(t)
	inst := b.institution(t, "univ.example")
	for i := range 5 {
		o := outcome("L1", fmt.Sprintf("k%d", i))
		o.Unit.Title = "Networks <&> \"systems\" — é"
		if i == 2 {
			o.Result.Passed = new(bool)
		}
		b.post(t, inst, o)
	}
	if _, err := b.Revoke(context.Background(), inst, 3, "error"); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{2, 100} {
		decoded, err := b.Transcript("L1", "", limit)
		if err != nil {
			t.Fatal(err)
		}
		undecoded, err := b.TranscriptUndecoded("L1", "", limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(undecoded.Outcomes) > 0 && undecoded.Outcomes[0].Learner != "" {
			t.Fatal("TranscriptUndecoded decoded the outcomes")
		}
		want, err := json.Marshal(decoded)
		if err != nil {
			t.Fatal(err)
		}
		marshalled, err := json.Marshal(undecoded)
		if err != nil {
			t.Fatal(err)
		}
		appended, err := undecoded.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var w any
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		for _, got := range [][]byte{marshalled, appended} {
			var g any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("undecoded transcript is not JSON: %v\n%s", err, got)
			}
			if !reflect.DeepEqual(w, g) {
				t.Fatalf("limit %d: undecoded transcript\n%s\nwant\n%s", limit, got, want)
			}
		}
	}
}

// TestStateRevoked: the revoked check on stored bytes says what decoding
// the state says, whatever the strings in it hold.
func TestStateRevoked(t *testing.T) {
	for _, revoked := range []bool{false, true} {
		for _, text := range []string{"0613", `x,"revoked":true`, `,\"revoked\":true`} {
			s := memStore{}
			if err := putJSON(s, "out/1", outcomeState{Seq: 1, Learner: "L1", Field: text, Revoked: revoked, UsedBy: []conversionUse{{Conversion: 9}}}); err != nil {
				t.Fatal(err)
			}
			if got := stateRevoked(s["out/1"]); got != revoked {
				t.Fatalf("stateRevoked(%s) = %v, want %v", s["out/1"], got, revoked)
			}
		}
	}
}
