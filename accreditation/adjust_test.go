package accreditation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"creditbank/ledger"
)

// Tests of docs/contract.md section 8, "Revocation and supersession reverse
// items, not whole conversions": the entries written, what stands, the
// balances and caps after, the answers' effects, the replay of ledgers
// written before, and the audit of every item change.

// adUnit is outcome(learner, key) of unit code with amount credits.
func adUnit(learner, key, code string, amount Amount) OutcomeInput {
	o := outcome(learner, key)
	o.Unit.Code = code
	o.Credits.Amount = amount
	return o
}

func TestRevocationReversesOnlyItsItem(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// retire retires the rule before the revocation: the items that
		// stand must not depend on the rule still being in force.
		retire bool
		// revoke is the index of the outcome revoked among the three.
		revoke int
		// wantInForce is what stays granted, item by item.
		wantInForce []Amount
	}{
		{"first item", false, 0, []Amount{200, 150}},
		{"middle item", false, 1, []Amount{150, 150}},
		{"last item, the one the cap cut", false, 2, []Amount{150, 200}},
		{"rule retired since", true, 0, []Amount{200, 150}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			r := rtRule("capped", "BSC")
			r.Ratio, r.Cap = 5000, amountPtr(500)
			rtPublish(t, b, r)
			seqs := []uint64{
				b.post(t, college, adUnit("L1", "a", "U1", 300)), // 1.5
				b.post(t, college, adUnit("L1", "b", "U2", 400)), // 2
				b.post(t, college, adUnit("L1", "c", "U3", 600)), // 3, cut to 1.5
			}
			conv := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "capped", Outcomes: seqs})
			if conv.Granted != 500 || !conv.Capped {
				t.Fatalf("conversion %+v", conv)
			}
			if tc.retire {
				if _, err := b.RetireRule(ctx, regulator, "capped", "replaced by a new agreement"); err != nil {
					t.Fatal(err)
				}
			}
			gone := conv.Items[tc.revoke]
			size := b.Ledger().Size()
			rev, err := b.Revoke(ctx, college, gone.Outcome, "posted in error")
			if err != nil {
				t.Fatal(err)
			}
			if b.Ledger().Size() != size+2 || !slices.Equal(rev.Reversals, []uint64{size + 1}) {
				t.Fatalf("revocation %+v at size %d, now %d: want the revocation and one adjustment", rev, size, b.Ledger().Size())
			}
			want := ItemChange{Outcome: gone.Outcome, Action: ActionReversed, StandardCredits: gone.StandardCredits, Granted: gone.Granted}
			a := rtContent[Adjustment](t, b, size+1, TypeConversionAdjusted)
			if a.Conversion != conv.Seq || a.Outcome != gone.Outcome || !reflect.DeepEqual(a.Items, []ItemChange{want}) {
				t.Fatalf("adjustment %+v", a)
			}
			if !reflect.DeepEqual(rev.Effects, []ItemEffect{{Seq: size + 1, Conversion: conv.Seq, ItemChange: want}}) {
				t.Fatalf("effects %+v", rev.Effects)
			}
			var total Amount
			var inForce []Amount
			for i, it := range conv.Items {
				if i != tc.revoke {
					inForce = append(inForce, it.Granted)
					total += it.Granted
				}
			}
			if !slices.Equal(inForce, tc.wantInForce) {
				t.Fatalf("items in force grant %v, want %v", inForce, tc.wantInForce)
			}
			if g := rtBalance(t, b, "L1").Granted[rtUniv+"/BSC"]; g != total {
				t.Fatalf("balance grants %s, want %s", g, total)
			}
			state, err := b.State()
			if err != nil {
				t.Fatal(err)
			}
			if g := ptDecode[Amount](t, state[grantedKey(b.ref(t, "L1"), "capped")]); g != total {
				t.Fatalf("the rule's cap accounting holds %s, want %s", g, total)
			}
			tc0 := rtTranscript(t, b, "L1").Conversions[0]
			if tc0.Status != "adjusted" || tc0.GrantedInForce == nil || *tc0.GrantedInForce != total || len(tc0.InForce) != 2 {
				t.Fatalf("transcript conversion %+v", tc0)
			}
			b.checkReplay(t)
		})
	}
}

func TestSupersessionCarriesItemOver(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		fix  func(o *OutcomeInput)
		// other is what another conversion under the rule granted the
		// learner before: it counts against the cap of a moved item.
		other bool
		want  string // action
		to    *ConversionItem
		why   string // NotEligible
	}{
		{"same credits", func(o *OutcomeInput) {}, false, ActionMoved, &ConversionItem{StandardCredits: 300, Granted: 150}, ""},
		{"more credits", func(o *OutcomeInput) { o.Credits.Amount = 800 }, false, ActionMoved, &ConversionItem{StandardCredits: 800, Granted: 400}, ""},
		{"more credits, capped by the rule's other grants", func(o *OutcomeInput) { o.Credits.Amount = 800 }, true, ActionMoved, &ConversionItem{StandardCredits: 800, Granted: 300}, ""},
		{"now failed", func(o *OutcomeInput) { o.Result.Passed = rtBool(false) }, false, ActionReversed, nil, ReasonFailed},
		{"score below the rule's", func(o *OutcomeInput) { o.Result.Score = amountPtr(5000) }, false, ActionReversed, nil, ReasonScore},
		{"another field", func(o *OutcomeInput) { o.Field = "0111" }, false, ActionReversed, nil, ReasonField},
		{"completed after the conversion", func(o *OutcomeInput) { o.CompletedOn = "2026-07-20" }, false, ActionReversed, nil, ReasonNotCompleted},
		{"no credits", func(o *OutcomeInput) { o.Credits.Amount = 0 }, false, ActionReversed, nil, ReasonNoCredits},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, college, _ := rtSetup(t)
			r := rtRule("carry", "BSC")
			r.Ratio, r.Cap = 5000, amountPtr(500)
			r.Source.Fields, r.Source.MinScore = []string{"06"}, amountPtr(6000)
			rtPublish(t, b, r)
			if tc.other {
				b.clock.SetDate(t, "2026-07-10")
				o := b.post(t, college, adUnit("L1", "other", "U9", 400)) // 2 granted
				rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "carry", Outcomes: []uint64{o}})
				b.clock.SetDate(t, "2026-07-15")
			}
			old := b.post(t, college, adUnit("L1", "v1", "U1", 300))
			conv := rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "carry", Outcomes: []uint64{old}})
			// The rule is retired and the clock moves on: the move is decided
			// under the version that granted the item, on its date.
			if _, err := b.RetireRule(ctx, regulator, "carry", "replaced"); err != nil {
				t.Fatal(err)
			}
			b.clock.SetDate(t, "2026-08-01")
			fix := adUnit("L1", "v2", "U1", 300)
			fix.Supersedes = &old
			tc.fix(&fix)
			pr := rtPostOne(t, b, college, fix)
			if pr.Status != PostCreated {
				t.Fatalf("post %+v", pr)
			}
			want := ItemChange{Outcome: old, Action: tc.want, StandardCredits: 300, Granted: 150, NotEligible: tc.why}
			if tc.to != nil {
				to := *tc.to
				to.Outcome = pr.Seq
				want.To = &to
			}
			a := rtContent[Adjustment](t, b, pr.Seq+2, TypeConversionAdjusted)
			if a.Conversion != conv.Seq || !reflect.DeepEqual(a.Items, []ItemChange{want}) {
				t.Fatalf("adjustment %+v, want %+v", a.Items, want)
			}
			if !reflect.DeepEqual(pr.Effects, []ItemEffect{{Seq: pr.Seq + 2, Conversion: conv.Seq, ItemChange: want}}) {
				t.Fatalf("effects %+v", pr.Effects)
			}
			var granted Amount
			if tc.other {
				granted = 200
			}
			if want.To != nil {
				granted += want.To.Granted
			}
			if g := rtBalance(t, b, "L1").Granted[rtUniv+"/BSC"]; g != granted {
				t.Fatalf("balance grants %s, want %s", g, granted)
			}
			b.checkReplay(t)
		})
	}
}

// TestSupersessionEffectsWithoutConversions: a correction of an outcome no
// conversion used answers an empty list of effects; a plain post answers
// none at all.
func TestSupersessionEffectsWithoutConversions(t *testing.T) {
	b, college, _ := rtSetup(t)
	old := b.post(t, college, outcome("L1", "v1"))
	fix := outcome("L1", "v2")
	fix.Supersedes = &old
	if pr := rtPostOne(t, b, college, fix); pr.Effects == nil || len(pr.Effects) != 0 {
		t.Fatalf("effects %#v, want an empty list", pr.Effects)
	}
	if pr := rtPostOne(t, b, college, adUnit("L1", "v3", "U3", 300)); pr.Effects != nil {
		t.Fatalf("a plain post answers effects %#v", pr.Effects)
	}
	b.checkReplay(t)
}

// adReadV1 reads the journal and the state a bank wrote before items were
// changed one by one (testdata/ledger-v1: conversions, whole reversals by a
// revocation and by supersessions, a conversion of a suspended
// institution's outcome and a repeated outcome under a new key). The files
// are a record of that version's output and are not regenerated.
func adReadV1(t *testing.T) ([]ledger.Entry, map[string][]byte) {
	t.Helper()
	f, err := os.Open("testdata/ledger-v1/entries.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []ledger.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := ledger.ParseEntry(bytes.Clone(sc.Bytes()))
		if err != nil {
			t.Fatalf("entry %d: %v", len(entries), err)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/ledger-v1/state.json")
	if err != nil {
		t.Fatal(err)
	}
	var enc map[string]string
	if err := json.Unmarshal(raw, &enc); err != nil {
		t.Fatal(err)
	}
	state := map[string][]byte{}
	for k, v := range enc {
		if state[k], err = base64.StdEncoding.DecodeString(v); err != nil {
			t.Fatal(err)
		}
	}
	return entries, state
}

// TestReplayLedgerV1: a ledger written before replays without a finding,
// its whole-conversion reversals applied as they were, to the conversion
// state (outcomes, conversions, cap accounting, balances) that version
// kept.
func TestReplayLedgerV1(t *testing.T) {
	entries, want := adReadV1(t)
	rp := NewReplayer()
	reversals := 0
	for _, e := range entries {
		if e.Type == TypeConversionReversed {
			reversals++
		}
		if err := rp.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if reversals < 3 {
		t.Fatalf("the fixture holds %d whole reversals; it is not the journal this test means", reversals)
	}
	if f := rp.Findings(); len(f) > 0 {
		t.Fatalf("findings %+v", f)
	}
	got := rp.State()
	for k, v := range want {
		if !strings.HasPrefix(k, "out/") && !strings.HasPrefix(k, "conv/") && !strings.HasPrefix(k, "granted/") && !strings.HasPrefix(k, "bald/") {
			continue
		}
		if !bytes.Equal(got[k], v) {
			t.Errorf("state %s: replayed %s, recorded %s", k, got[k], v)
		}
	}
}

// adJournal is a journal whose last entries are a supersession that moves
// one item and reverses another (the correction fails the second rule's
// minimum score), followed by nothing: tampering with them changes nothing
// a later entry depends on. It returns the entries and the seq of the
// revocation.
func adJournal(t *testing.T) ([]ledger.Entry, uint64, *testBank) {
	t.Helper()
	b, college, _ := rtSetup(t)
	rtPublish(t, b, rtRule("to-bsc", "BSC"))
	strict := rtRule("to-ba", "BA")
	strict.Source.MinScore = amountPtr(8000)
	rtPublish(t, b, strict)
	old := b.post(t, college, adUnit("L1", "v1", "U1", 300))
	b.post(t, college, adUnit("L1", "w1", "U2", 300))
	rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-bsc"})
	rtConvert(t, b, admin, ConversionRequest{Learner: "L1", Rule: "to-ba", Outcomes: []uint64{old}})
	fix := adUnit("L1", "v2", "U1", 500)
	fix.Result.Score = amountPtr(7000)
	fix.Supersedes = &old
	pr := rtPostOne(t, b, college, fix)
	if len(pr.Effects) != 2 || pr.Effects[0].Action != ActionMoved || pr.Effects[1].Action != ActionReversed {
		t.Fatalf("effects %+v", pr.Effects)
	}
	b.checkReplay(t)
	entries := ptEntries(t, b)
	if uint64(len(entries)) != pr.Seq+4 {
		t.Fatalf("%d entries, the supersession's last is %d", len(entries), pr.Seq+3)
	}
	return entries, pr.Seq + 1, b
}

// TestAuditNamesTamperedItemChange changes the item changes of a real
// journal in each way an auditor must notice and checks that the replay
// names exactly the entry at fault.
func TestAuditNamesTamperedItemChange(t *testing.T) {
	entries, revocation, b := adJournal(t)
	moved, reversed := revocation+1, revocation+2
	replay := func(t *testing.T, es []ledger.Entry) []Finding { return b.replayed(t, es).Findings() }
	if f := replay(t, entries); len(f) != 0 {
		t.Fatalf("untampered journal: findings %+v", f)
	}
	cases := []struct {
		name    string
		seq     uint64
		tamper  func(a *Adjustment)
		drop    bool   // the entry is left out (both are the journal's last)
		finding uint64 // the entry named
		problem string
	}{
		{"moved grant", moved, func(a *Adjustment) { a.Items[0].To.Granted += 50 }, false, moved, "the rules give"},
		{"moved instead of reversed", reversed, func(a *Adjustment) {
			a.Items[0].Action, a.Items[0].To, a.Items[0].NotEligible = ActionMoved, &ConversionItem{Outcome: revocation - 1, StandardCredits: 500, Granted: 500}, ""
		}, false, reversed, "not eligible (score)"},
		{"reversed instead of moved", moved, func(a *Adjustment) { a.Items[0].Action, a.Items[0].To = ActionReversed, nil }, false, moved, "moved"},
		{"amount taken back", reversed, func(a *Adjustment) { a.Items[0].Granted = 100 }, false, reversed, "the rules give"},
		{"another learner", reversed, func(a *Adjustment) { a.Learner = "L2" }, false, reversed, "names learner L2"},
		{"left out", reversed, nil, true, revocation, "unchanged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tampered := slices.Clone(entries)
			if tc.drop {
				tampered = tampered[:tc.seq]
			} else {
				a := ptDecode[Adjustment](t, entries[tc.seq].Content)
				tc.tamper(&a)
				content, err := ledger.MarshalContent(a)
				if err != nil {
					t.Fatal(err)
				}
				tampered[tc.seq].Content = content
			}
			f := replay(t, tampered)
			if len(f) != 1 || f[0].Seq != tc.finding || !strings.Contains(f[0].Problem, tc.problem) {
				t.Fatalf("findings %+v, want exactly entry %d with %q", f, tc.finding, tc.problem)
			}
		})
	}
}
