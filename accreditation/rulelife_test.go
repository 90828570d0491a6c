package accreditation

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"creditbank/ledger"
)

// Tests of a rule's life under version 2 (docs/contract.md section 8):
// retiring records a reason, a retired rule is not published again unless
// the request says to reinstate it, and retirements recorded before they
// took a reason still replay.

// rlEntry decodes entry seq of the bank's ledger.
func rlEntry(t *testing.T, b *testBank, seq uint64) ledger.Entry {
	t.Helper()
	raw, err := b.Ledger().Entry(seq)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ledger.ParseEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRetirementReason(t *testing.T) {
	ctx := context.Background()
	b, _, _ := rtSetup(t)
	rtPublish(t, b, rtRule("retiring", "BSC"))
	for _, tc := range []struct {
		name, reason string
	}{
		{"empty", ""},
		{"over 500 characters", strings.Repeat("r", 501)},
		{"control character", "line\nbreak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := b.Ledger().Size()
			_, err := b.RetireRule(ctx, regulator, "retiring", tc.reason)
			rtCode(t, err, CodeInvalid)
			if b.Ledger().Size() != size {
				t.Fatal("a refused retirement wrote")
			}
		})
	}
	seq, err := b.RetireRule(ctx, regulator, "retiring", "the agreement ended")
	if err != nil {
		t.Fatal(err)
	}
	var content RuleRetired
	if err := json.Unmarshal(rlEntry(t, b, seq).Content, &content); err != nil {
		t.Fatal(err)
	}
	if content != (RuleRetired{Rule: "retiring", Version: 1, Reason: "the agreement ended"}) {
		t.Fatalf("retirement entry holds %+v", content)
	}
	_, retired, ret, err := b.RuleStatus("retiring", 0)
	if err != nil || !retired || ret == nil || ret.Seq != seq || ret.Reason != "the agreement ended" || ret.RecordedAt == "" {
		t.Fatalf("RuleStatus: retired %t, retirement %+v, %v", retired, ret, err)
	}
	b.checkReplay(t)
}

func TestRetiredRuleNeedsReinstate(t *testing.T) {
	ctx := context.Background()
	b, college, _ := rtSetup(t)
	capped := rtRule("paused", "BSC")
	capped.Cap = amountPtr(500)
	rtPublish(t, b, capped)
	if _, err := b.RetireRule(ctx, admin, "paused", "under review"); err != nil {
		t.Fatal(err)
	}

	t.Run("publishing again is refused", func(t *testing.T) {
		size := b.Ledger().Size()
		_, err := b.PublishRule(ctx, regulator, capped)
		rtCode(t, err, CodeRuleRetired)
		if !strings.Contains(err.Error(), "under review") {
			t.Errorf("refusal %q does not say why the rule was retired", err)
		}
		if b.Ledger().Size() != size {
			t.Fatal("a refused publication wrote")
		}
		if _, retired, _ := b.Rule("paused", 0); !retired {
			t.Fatal("the rule is no longer retired")
		}
	})
	t.Run("reinstating publishes the next version", func(t *testing.T) {
		again := capped
		again.Reinstate = true
		r := rtPublish(t, b, again)
		if r.Version != 2 || !r.Reinstated || r.Reinstate {
			t.Fatalf("reinstated version: %+v", r)
		}
		var content map[string]any
		if err := json.Unmarshal(rlEntry(t, b, r.Seq).Content, &content); err != nil {
			t.Fatal(err)
		}
		if content["reinstated"] != true || content["cap"] != "5" {
			t.Fatalf("entry content %v: want reinstated and the cap kept", content)
		}
		if _, ok := content["reinstate"]; ok {
			t.Fatalf("entry content %v carries the request's reinstate", content)
		}
		got, retired, ret, err := b.RuleStatus("paused", 0)
		if err != nil || retired || ret != nil || !got.Reinstated {
			t.Fatalf("after reinstatement: %+v retired %t retirement %+v %v", got, retired, ret, err)
		}
		o := b.post(t, college, outcome("L1", "after-reinstate"))
		if c := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "paused", Outcomes: []uint64{o}}); c.Rule.Version != 2 {
			t.Fatalf("conversion used version %d", c.Rule.Version)
		}
	})
	t.Run("reinstating a rule in force is refused", func(t *testing.T) {
		again := capped
		again.Reinstate = true
		size := b.Ledger().Size()
		_, err := b.PublishRule(ctx, regulator, again)
		rtCode(t, err, CodeConflict)
		again.ID = "never-published"
		_, err = b.PublishRule(ctx, regulator, again)
		rtCode(t, err, CodeConflict)
		if b.Ledger().Size() != size {
			t.Fatal("a refused reinstatement wrote")
		}
	})
	b.checkReplay(t)
}

// TestOldRetirementReplays replays a journal written before retirements
// took a reason: its rule.retired entry has none.
func TestOldRetirementReplays(t *testing.T) {
	at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	entries := []handEntry{
		{TypeInstitutionRegistered, "admin:root", `{"id":"univ.example","name":"U","kind":"university","keys":[]}`},
		{TypeRulePublished, "regulator:moe", `{"id":"old-rule","target":{"institution":"univ.example","programme":"P"},"source":{"sectors":["degree"],"min_level":0,"fields":null,"min_score":null,"max_age_days":null,"institutions":null},"ratio":"1","cap":null,"valid_from":"2026-01-01","valid_until":null,"version":1}`},
		{TypeRuleRetired, "regulator:moe", `{"rule":"old-rule","version":1}`},
	}
	rp := replayed(t, handJournal(at, entries))
	head, err := getJSON[ruleHead](rp.state, ruleKey("old-rule"))
	if err != nil || head == nil || !head.Retired || head.Retirement == nil || head.Retirement.Seq != 2 || head.Retirement.Reason != "" {
		t.Fatalf("rule head after an old retirement: %+v, %v", head, err)
	}
}
