package accreditation

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"creditbank/ledger"
)

// Pools the random journals draw from: few enough that operations collide
// (the same learner, rule and key come up again and again).
var (
	ptInstitutions = []string{"college.example", "univ.example", "poly.example", "works.example", "ghost.example"}
	ptLearners     = []string{"L1", "L2", "L3", "L4"}
	ptRules        = []string{"r-one", "r-two", "r-three"}
	ptProgrammes   = []string{"BSC-CS", "BA-ED"}
	ptFields       = []string{"0613", "0612", "0611", "061", "06", "0411", "0311", "0111"}
	ptRulePrefixes = []string{"06", "061", "0613", "04", "0411", "03"}
	ptSystems      = []string{"cn-credit", "ects", "kr-credit", "hk-qf", "us-semester", "hours"}
	ptAmounts      = []Amount{0, 50, 100, 150, 200, 300, 450, 500, 750, 1000, 1250}
	ptRatios       = []Ratio{2500, 3333, 5000, 7500, 10000, 15000}
	ptCaps         = []Amount{100, 250, 500, 1000, 1550, 2000, 3000}
)

// ptPosted is an outcome the bank created.
type ptPosted struct {
	inst string
	in   OutcomeInput
	seq  uint64
}

type ptIdem struct {
	hash [32]byte
	seq  uint64
}

// ptSim drives one random journal on a real bank and keeps what the test
// needs to predict answers it can predict.
type ptSim struct {
	t    *testing.T
	seed uint64
	b    *testBank
	rng  *rand.Rand
	ctx  context.Context
	date time.Time
	keyN int

	posted []ptPosted
	idem   map[string]ptIdem // institution \x00 key
	convs  map[uint64]Conversion

	convErrs map[string]int

	ops, okOps, created, duplicates, conflicts, conversions, revocations, rules, groups, previews int
}

func (s *ptSim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d: %s", s.seed, fmt.Sprintf(format, args...))
}

// domain fails the test for an error that is not a domain error.
func (s *ptSim) domain(op string, err error) bool {
	s.t.Helper()
	if err == nil {
		s.okOps++
		return true
	}
	if CodeOf(err) == "" {
		s.fatalf("op %d %s: non-domain error %v", s.ops, op, err)
	}
	return false
}

func (s *ptSim) pick(n int) int { return s.rng.IntN(n) }

func ptPick[T any](s *ptSim, list []T) T { return list[s.rng.IntN(len(list))] }

func (s *ptSim) chance(p float64) bool { return s.rng.Float64() < p }

func (s *ptSim) day(offset int) string { return s.date.AddDate(0, 0, offset).Format(dateLayout) }

func (s *ptSim) register() {
	id := ptPick(s, ptInstitutions)
	kind := ptPick(s, institutionKinds)
	if s.chance(0.05) {
		kind = "castle"
	}
	_, err := s.b.RegisterInstitution(s.ctx, admin, Registration{ID: id, Name: "Inst " + id, Kind: kind,
		Keys: []PublicJWK{testKey(s.t, fmt.Sprintf("%s-k%d", id, s.ops))}})
	s.domain("register", err)
}

func (s *ptSim) accredit() {
	id := ptPick(s, ptInstitutions)
	scope := AccreditationInput{Sectors: Sectors(), MaxLevel: 10, ValidFrom: "2000-01-01", ValidUntil: "2099-12-31"}
	if s.chance(0.5) {
		scope.Sectors = nil
		for _, sec := range sectors {
			if s.chance(0.4) {
				scope.Sectors = append(scope.Sectors, sec)
			}
		}
		scope.MaxLevel = 1 + s.pick(11) // 11 is invalid
		scope.ValidFrom = s.day(-3000 + s.pick(3000))
		scope.ValidUntil = s.day(-500 + s.pick(4000))
	}
	actor := admin
	if s.chance(0.5) {
		actor = regulator
	}
	_, err := s.b.Accredit(s.ctx, actor, id, scope)
	s.domain("accredit", err)
}

func (s *ptSim) suspend() {
	id := ptPick(s, ptInstitutions)
	var err error
	if s.chance(0.5) {
		_, err = s.b.Suspend(s.ctx, regulator, id, "inspection")
	} else {
		_, err = s.b.Reinstate(s.ctx, admin, id, "audit closed")
	}
	s.domain("suspend", err)
}

// newOutcome makes a fresh outcome, mostly valid.
func (s *ptSim) newOutcome(learner string) OutcomeInput {
	s.keyN++
	o := OutcomeInput{
		IdempotencyKey: fmt.Sprintf("k%d", s.keyN), Learner: learner,
		Unit:   Unit{Code: fmt.Sprintf("U%d", s.pick(50)), Title: "Unit"},
		Sector: ptPick(s, []string{"non_degree", "vocational", "degree", "community", ptPick(s, sectors)}),
		Level:  3 + s.pick(6), Field: ptPick(s, ptFields),
		Credits:     Credits{Amount: ptPick(s, ptAmounts), System: ptPick(s, ptSystems)},
		CompletedOn: s.day(-s.pick(2500)),
	}
	if s.chance(0.3) {
		h := int64(s.pick(200))
		o.Hours = &h
	}
	p := s.chance(0.85)
	o.Result.Passed = &p
	if s.chance(0.8) {
		o.Result.Score = amountPtr(Amount(s.pick(101) * 100))
	}
	if s.chance(0.2) {
		o.EvidenceSHA256 = strings.Repeat("ab", 32)
	}
	switch s.pick(40) { // a few invalid ones
	case 0:
		o.Level = 0
	case 1:
		o.Field = "0655"
	case 2:
		o.CompletedOn = s.day(1 + s.pick(30)) // in the future
	case 3:
		o.Learner = "bad_learner"
	case 4:
		o.Credits.Amount = -100
	case 5:
		o.Result.Passed = nil
	case 6:
		o.CompletedOn = "2026-02-29"
	}
	return o
}

// changed returns o with other content under the same key.
func (s *ptSim) changed(o OutcomeInput) OutcomeInput {
	switch s.pick(3) {
	case 0:
		o.Unit.Title += " (corrected)"
	case 1:
		h := int64(1000 + s.pick(100))
		o.Hours = &h
	default:
		o.Result.Score = amountPtr(Amount(10001 + s.pick(100)))
	}
	return o
}

// post posts items for inst and checks each answer against the idempotency
// model: a known key with the same content is a duplicate of its seq, with
// other content a conflict.
func (s *ptSim) post(inst string, items []OutcomeInput) {
	res, err := s.b.PostOutcomes(s.ctx, Actor{Role: RoleInstitution, ID: inst}, items)
	if !s.domain("post", err) {
		return
	}
	if len(res) != len(items) {
		s.fatalf("post: %d results for %d items", len(res), len(items))
	}
	for i, r := range res {
		o := items[i]
		if r.Status == PostRejected {
			if CodeOf(r.Err) == "" {
				s.fatalf("op %d post item %d: non-domain error %v", s.ops, i, r.Err)
			}
		} else if r.Err != nil {
			s.fatalf("op %d post item %d: status %s with error %v", s.ops, i, r.Status, r.Err)
		}
		if err := o.Validate(); err != nil {
			if r.Status != PostRejected || CodeOf(r.Err) != CodeOf(err) {
				s.fatalf("op %d post item %d: invalid input (%v) answered %s %v", s.ops, i, err, r.Status, r.Err)
			}
			continue
		}
		h, err := OutcomeHash(o)
		if err != nil {
			s.fatalf("hash: %v", err)
		}
		k := inst + "\x00" + o.IdempotencyKey
		prev, known := s.idem[k]
		switch {
		case known && prev.hash == h:
			if r.Status != PostDuplicate || r.Seq != prev.seq {
				s.fatalf("op %d post item %d: same key and content as entry %d answered %s seq %d %v", s.ops, i, prev.seq, r.Status, r.Seq, r.Err)
			}
			s.duplicates++
		case known:
			if r.Status != PostRejected || CodeOf(r.Err) != CodeConflict {
				s.fatalf("op %d post item %d: same key, other content than entry %d answered %s %v", s.ops, i, prev.seq, r.Status, r.Err)
			}
			s.conflicts++
		case r.Status == PostDuplicate:
			s.fatalf("op %d post item %d: new key %q answered duplicate of %d", s.ops, i, o.IdempotencyKey, r.Seq)
		case r.Status == PostCreated:
			s.idem[k] = ptIdem{hash: h, seq: r.Seq}
			s.posted = append(s.posted, ptPosted{inst: inst, in: o, seq: r.Seq})
			s.created++
		}
	}
}

func (s *ptSim) postSingle() {
	s.post(ptPick(s, ptInstitutions), []OutcomeInput{s.newOutcome(ptPick(s, ptLearners))})
}

func (s *ptSim) postBatch() {
	inst := ptPick(s, ptInstitutions)
	n := 2 + s.pick(7)
	var items []OutcomeInput
	for range n {
		switch {
		case len(s.posted) > 0 && s.chance(0.25):
			// an earlier key of some institution, same or other content
			p := ptPick(s, s.posted)
			o := p.in
			if s.chance(0.5) {
				o = s.changed(o)
			}
			items = append(items, o)
		case len(items) > 0 && s.chance(0.15):
			// the same key again in this batch, same or other content
			o := ptPick(s, items)
			if s.chance(0.5) {
				o = s.changed(o)
			}
			items = append(items, o)
		default:
			items = append(items, s.newOutcome(ptPick(s, ptLearners)))
		}
	}
	s.post(inst, items)
}

func (s *ptSim) repost() {
	if len(s.posted) == 0 {
		return
	}
	p := ptPick(s, s.posted)
	o := p.in
	if s.chance(0.4) {
		o = s.changed(o)
	}
	s.post(p.inst, []OutcomeInput{o})
}

func (s *ptSim) supersede() {
	if len(s.posted) == 0 {
		return
	}
	p := ptPick(s, s.posted)
	o := s.newOutcome(p.in.Learner)
	seq := p.seq
	if s.chance(0.1) {
		seq = uint64(s.pick(1000))
	}
	o.Supersedes = &seq
	inst := p.inst
	if s.chance(0.15) {
		inst = ptPick(s, ptInstitutions)
	}
	s.post(inst, []OutcomeInput{o})
}

func (s *ptSim) revoke() {
	var seq uint64
	inst := ptPick(s, ptInstitutions)
	if len(s.posted) > 0 && s.chance(0.9) {
		p := ptPick(s, s.posted)
		seq, inst = p.seq, p.inst
	} else {
		seq = uint64(s.pick(2000))
	}
	actor := Actor{Role: RoleInstitution, ID: inst}
	switch s.pick(10) {
	case 0, 1, 2:
		actor = regulator
	case 3:
		actor = Actor{Role: RoleInstitution, ID: ptPick(s, ptInstitutions)}
	case 4:
		actor = admin
	}
	_, err := s.b.Revoke(s.ctx, actor, seq, "withdrawn")
	if s.domain("revoke", err) {
		s.revocations++
	}
}

func (s *ptSim) publish() {
	r := RuleInput{
		ID:        ptPick(s, ptRules),
		Target:    Target{Institution: ptPick(s, ptInstitutions[:4]), Programme: ptPick(s, ptProgrammes)},
		Ratio:     ptPick(s, ptRatios),
		Source:    RuleSource{MinLevel: s.pick(7)},
		ValidFrom: ptPick(s, []string{"2020-01-01", "2026-01-01", s.day(-s.pick(400)), s.day(-s.pick(400)), s.day(s.pick(60))}),
	}
	for _, sec := range []string{"non_degree", "vocational", "degree", "community", "workplace"} {
		if s.chance(0.6) {
			r.Source.Sectors = append(r.Source.Sectors, sec)
		}
	}
	if len(r.Source.Sectors) == 0 && s.chance(0.8) {
		r.Source.Sectors = []string{"non_degree"}
	}
	if s.chance(0.35) {
		for range 1 + s.pick(2) {
			f := ptPick(s, ptRulePrefixes)
			if !slices.Contains(r.Source.Fields, f) {
				r.Source.Fields = append(r.Source.Fields, f)
			}
		}
	}
	if s.chance(0.7) {
		r.Cap = amountPtr(ptPick(s, ptCaps))
	}
	if s.chance(0.3) {
		r.Source.MinScore = amountPtr(ptPick(s, []Amount{0, 5000, 6000, 8000}))
	}
	if s.chance(0.3) {
		d := ptPick(s, []int{30, 365, 1000, 1825, 3000})
		r.Source.MaxAgeDays = &d
	}
	if s.chance(0.1) {
		r.Source.Institutions = []string{ptPick(s, ptInstitutions)}
	}
	if s.chance(0.2) {
		u := ptPick(s, []string{"2026-12-31", s.day(s.pick(800)), "2019-01-01"})
		r.ValidUntil = &u
	}
	actor := admin
	if s.chance(0.5) {
		actor = regulator
	}
	_, err := s.b.PublishRule(s.ctx, actor, r)
	if s.domain("publish", err) {
		s.rules++
	}
}

func (s *ptSim) retire() {
	_, err := s.b.RetireRule(s.ctx, regulator, ptPick(s, ptRules), "withdrawn by the regulator")
	s.domain("retire", err)
}

func (s *ptSim) convert() {
	learner := ptPick(s, ptLearners)
	req := ConversionRequest{Learner: learner, Rule: ptPick(s, ptRules)}
	if s.chance(0.6) {
		var mine []uint64
		for _, p := range s.posted {
			if p.in.Learner == learner {
				mine = append(mine, p.seq)
			}
		}
		for range 1 + s.pick(5) {
			switch {
			case len(mine) > 0 && s.chance(0.85):
				req.Outcomes = append(req.Outcomes, ptPick(s, mine))
			case len(s.posted) > 0 && s.chance(0.5):
				req.Outcomes = append(req.Outcomes, ptPick(s, s.posted).seq)
			default:
				req.Outcomes = append(req.Outcomes, uint64(s.pick(5000)))
			}
		}
	}
	actor := admin
	switch s.pick(10) {
	case 0, 1:
		actor = Actor{Role: RoleLearner, ID: learner}
	case 2:
		actor = Actor{Role: RoleInstitution, ID: ptPick(s, ptInstitutions)}
	case 3:
		actor = Actor{Role: RoleLearner, ID: ptPick(s, ptLearners)}
	}
	res, err := s.b.Convert(s.ctx, actor, req)
	if err != nil {
		s.convErrs[string(CodeOf(err))]++
	}
	if !s.domain("convert", err) {
		if CodeOf(err) == CodeNotEligible && len(err.(*Error).Reasons) == 0 && req.Outcomes != nil {
			s.fatalf("op %d convert %+v: not eligible without reasons", s.ops, req)
		}
		return
	}
	if len(res.Items) == 0 || res.Granted <= 0 {
		s.fatalf("op %d convert %+v: granted nothing: %+v", s.ops, req, res)
	}
	if req.Outcomes != nil && len(res.Items)+len(res.Ineligible)+res.IneligibleOmitted != len(req.Outcomes) {
		s.fatalf("op %d convert %+v: %d items and %d reasons", s.ops, req, len(res.Items), len(res.Ineligible))
	}
	s.convs[res.Seq] = res.Conversion
	s.conversions++
}

func (s *ptSim) tick() {
	s.date = s.date.AddDate(0, 0, 1+s.pick(120))
	s.b.clock.SetDate(s.t, s.date.Format(dateLayout))
}

func (s *ptSim) step() {
	s.ops++
	switch n := s.pick(106); {
	case n < 4:
		s.register()
	case n < 8:
		s.accredit()
	case n < 9:
		s.suspend()
	case n < 27:
		s.postSingle()
	case n < 35:
		s.postBatch()
	case n < 41:
		s.repost()
	case n < 46:
		s.supersede()
	case n < 52:
		s.revoke()
	case n < 60:
		s.publish()
	case n < 61:
		s.retire()
	case n < 95:
		s.convert()
	case n < 100:
		s.tick()
	case n < 102:
		s.publishGroup()
	default:
		s.previewThenConvert()
	}
}

// TestRandomJournals runs seeded random operations on a real bank. Errors are
// expected (most random requests are refused) but must be domain errors;
// at checkpoints and at the end the journal must replay to exactly the live
// state with no audit finding, and the invariants of ptInvariants hold.
func TestRandomJournals(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 20260715}
	steps := 700
	if testing.Short() {
		seeds, steps = seeds[:2], 120
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			b := newTestBank(t)
			s := &ptSim{t: t, seed: seed, b: b, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
				ctx: context.Background(), idem: map[string]ptIdem{}, convs: map[uint64]Conversion{}, convErrs: map[string]int{}}
			s.date, _ = time.Parse(dateLayout, "2026-07-15")
			// A fair start: two accredited institutions and a rule, so that
			// the random steps reach conversions often.
			b.institution(t, "college.example")
			b.institution(t, "univ.example")
			if _, err := b.PublishRule(s.ctx, regulator, RuleInput{ID: "r-one", Target: Target{Institution: "univ.example", Programme: "BSC-CS"},
				Source: RuleSource{Sectors: []string{"non_degree", "vocational", "degree"}}, Ratio: 5000, Cap: amountPtr(1550), ValidFrom: "2020-01-01"}); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= steps; i++ {
				s.step()
				if i%(steps/3) == 0 {
					s.check()
				}
			}
			s.check()
			reversals := 0
			for _, e := range ptEntries(t, b) {
				if e.Type == TypeConversionAdjusted {
					reversals++
				}
			}
			t.Logf("seed %d: %d ops (%d accepted), %d outcomes created, %d duplicates, %d conflicts, %d conversions, %d revocations (%d item changes), %d rule versions, %d group versions, %d previews, %d entries; refused conversions %v",
				seed, s.ops, s.okOps, s.created, s.duplicates, s.conflicts, s.conversions, s.revocations, reversals, s.rules, s.groups, s.previews, b.Ledger().Size(), s.convErrs)
		})
	}
}

// check replays the journal and checks the invariants.
func (s *ptSim) check() {
	s.t.Helper()
	s.b.checkReplay(s.t)
	ptInvariants(s.t, s.b, s.convs, fmt.Sprintf("seed %d op %d", s.seed, s.ops))
	ptInvariantsV2(s.t, s.b, fmt.Sprintf("seed %d op %d", s.seed, s.ops))
}

// ptEntries reads the whole durable journal.
func ptEntries(t testing.TB, b *testBank) []ledger.Entry {
	t.Helper()
	var out []ledger.Entry
	err := b.Ledger().Read(func(r *ledger.Reader) error {
		for seq := uint64(0); seq < r.Size(); seq++ {
			raw, err := r.Entry(seq)
			if err != nil {
				return err
			}
			e, err := ledger.ParseEntry(raw)
			if err != nil {
				return fmt.Errorf("entry %d: %w", seq, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ptDecode[T any](t testing.TB, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// ptInvariants walks the journal with a model of its own (not the package's
// apply or Evaluate) and checks every conversion as it comes, then compares
// the result with the bank's state:
//   - each conversion uses the latest, unretired, valid version of its rule,
//     is dated on its entry's day, and uses outcomes of its learner that were
//     then active, passed, in scope of the rule and not in force toward the
//     same target; each item grants min(ratio × standard credits, cap −
//     granted so far) and the total is their sum;
//   - each reversal reverses a conversion in force, and no conversion in
//     force uses a revoked outcome;
//   - no outcome is in force in two conversions toward the same target;
//   - what conversions in force under a rule id granted a learner never
//     exceeds the largest cap of its versions (when all have a cap), and
//     each conversion's granted is at most its version's cap;
//   - the learner's balance (granted per target, standard credits by sector)
//     and the granted/<learner>/<rule> state equal the model's sums;
//   - every conversion the bank answered is in the journal as answered.
func ptInvariants(t *testing.T, b *testBank, answered map[uint64]Conversion, where string) {
	t.Helper()
	type outcomeModel struct {
		o       Outcome
		revoked bool
	}
	type ruleModel struct {
		versions []Rule // index version-1
		retired  bool
	}
	var (
		outcomes = map[uint64]*outcomeModel{}
		rules    = map[string]*ruleModel{}
		inForce  = map[uint64]Conversion{}
		granted  = map[string]Amount{} // learner/rule
		used     = map[string]uint64{} // outcome/target → conversion
	)
	fail := func(seq uint64, format string, args ...any) {
		t.Helper()
		t.Errorf("%s: entry %d: %s", where, seq, fmt.Sprintf(format, args...))
	}
	entries := ptEntries(t, b)
	for _, e := range entries {
		switch e.Type {
		case TypeOutcomeRecorded:
			o := b.scored(t, e)
			outcomes[e.Seq] = &outcomeModel{o: o}
			sc, err := o.standardCredits()
			if err != nil || sc != o.StandardCredits {
				fail(e.Seq, "standard credits %s, recomputed %s %v", o.StandardCredits, sc, err)
			}
		case TypeOutcomeRevoked:
			r := ptDecode[Revocation](t, e.Content)
			om := outcomes[r.Outcome]
			if om == nil || om.revoked {
				fail(e.Seq, "revokes outcome %d, which is not active", r.Outcome)
				continue
			}
			om.revoked = true
		case TypeRulePublished:
			r := ptDecode[Rule](t, e.Content)
			rm := rules[r.ID]
			if rm == nil {
				rm = &ruleModel{}
				rules[r.ID] = rm
			}
			if r.Version != len(rm.versions)+1 {
				fail(e.Seq, "rule %s version %d after %d versions", r.ID, r.Version, len(rm.versions))
			}
			rm.versions = append(rm.versions, r)
			rm.retired = false
		case TypeRuleRetired:
			r := ptDecode[RuleRetired](t, e.Content)
			rules[r.Rule].retired = true
		case TypeConversionGranted:
			c := ptDecode[Conversion](t, e.Content)
			if day := e.RecordedAt.UTC().Format(dateLayout); c.On != day {
				fail(e.Seq, "dated %s, recorded %s", c.On, day)
			}
			rm := rules[c.Rule.ID]
			if rm == nil || rm.retired || c.Rule.Version != len(rm.versions) {
				fail(e.Seq, "rule %+v is not the latest active version", c.Rule)
				continue
			}
			rule := rm.versions[c.Rule.Version-1]
			if rule.Target != c.Target || rule.validOn(c.On) != nil {
				fail(e.Seq, "target %v / date %s do not fit rule %+v", c.Target, c.On, rule.RuleInput)
			}
			gk := c.Learner + "/" + c.Rule.ID
			soFar := granted[gk]
			var total Amount
			cut := false
			seen := map[uint64]bool{}
			for i, it := range c.Items {
				om := outcomes[it.Outcome]
				if om == nil || om.o.Learner != c.Learner {
					fail(e.Seq, "item %d: outcome %d is not the learner's", i, it.Outcome)
					continue
				}
				o, src := om.o, rule.Source
				onDay, _ := time.Parse(dateLayout, c.On)
				done, _ := time.Parse(dateLayout, o.CompletedOn)
				switch {
				case seen[it.Outcome]:
					fail(e.Seq, "item %d: outcome %d used twice", i, it.Outcome)
				case om.revoked:
					fail(e.Seq, "item %d: outcome %d is revoked", i, it.Outcome)
				case !*o.Result.Passed:
					fail(e.Seq, "item %d: outcome %d failed", i, it.Outcome)
				case !slices.Contains(src.Sectors, o.Sector) || o.Level < src.MinLevel:
					fail(e.Seq, "item %d: outcome %d sector %s level %d not in rule", i, it.Outcome, o.Sector, o.Level)
				case len(src.Fields) > 0 && !slices.ContainsFunc(src.Fields, func(p string) bool { return strings.HasPrefix(o.Field, p) }):
					fail(e.Seq, "item %d: outcome %d field %s not in %v", i, it.Outcome, o.Field, src.Fields)
				case src.MinScore != nil && (o.Result.Score == nil || *o.Result.Score < *src.MinScore):
					fail(e.Seq, "item %d: outcome %d score below minimum", i, it.Outcome)
				case o.CompletedOn > c.On:
					fail(e.Seq, "item %d: outcome %d completed after %s", i, it.Outcome, c.On)
				case src.MaxAgeDays != nil && onDay.Sub(done) > time.Duration(*src.MaxAgeDays)*24*time.Hour:
					fail(e.Seq, "item %d: outcome %d too old", i, it.Outcome)
				case len(src.Institutions) > 0 && !slices.Contains(src.Institutions, o.Institution):
					fail(e.Seq, "item %d: outcome %d from %s", i, it.Outcome, o.Institution)
				}
				seen[it.Outcome] = true
				uk := fmt.Sprintf("%d/%s", it.Outcome, c.Target)
				if prev, ok := used[uk]; ok {
					fail(e.Seq, "item %d: outcome %d already in force toward %s in conversion %d", i, it.Outcome, c.Target, prev)
				}
				used[uk] = e.Seq
				if it.StandardCredits != o.StandardCredits {
					fail(e.Seq, "item %d: standard credits %s, outcome has %s", i, it.StandardCredits, o.StandardCredits)
				}
				want := rule.Ratio.Apply(o.StandardCredits)
				if rule.Cap != nil && want > *rule.Cap-soFar-total {
					want, cut = max(*rule.Cap-soFar-total, 0), true
				}
				if it.Granted != want || want <= 0 {
					fail(e.Seq, "item %d: granted %s, want %s", i, it.Granted, want)
				}
				total += it.Granted
			}
			if c.Granted != total {
				fail(e.Seq, "granted %s, items sum to %s", c.Granted, total)
			}
			if cut && !c.Capped {
				fail(e.Seq, "an item was cut by the cap but capped is false")
			}
			if reached := rule.Cap != nil && soFar+total >= *rule.Cap; c.Capped != reached {
				fail(e.Seq, "capped is %t but the learner has %s of the cap after it", c.Capped, soFar+total)
			}
			if rule.Cap != nil && c.Granted > *rule.Cap {
				fail(e.Seq, "granted %s above the version's cap %s", c.Granted, *rule.Cap)
			}
			granted[gk] += c.Granted
			inForce[e.Seq] = c
			if a, ok := answered[e.Seq]; ok && a.Learner != c.Learner && b.ref(t, a.Learner) == c.Learner {
				answered[e.Seq] = a // the answer names the learner by id, the journal by reference
				a.Learner = c.Learner
				if !reflect.DeepEqual(a, c) {
					fail(e.Seq, "journal has %+v, the bank answered %+v", c, a)
				}
			} else if ok && !reflect.DeepEqual(a, c) {
				fail(e.Seq, "journal has %+v, the bank answered %+v", c, a)
			}
		case TypeConversionReversed:
			r := ptDecode[Reversal](t, e.Content)
			c, ok := inForce[r.Conversion]
			if !ok {
				fail(e.Seq, "reverses conversion %d, which is not in force", r.Conversion)
				continue
			}
			if r.Granted != c.Granted || r.Learner != c.Learner || r.Rule != c.Rule || r.Target != c.Target {
				fail(e.Seq, "reversal %+v does not match conversion %+v", r, c)
			}
			if !slices.ContainsFunc(c.Items, func(it ConversionItem) bool { return it.Outcome == r.Outcome }) || !outcomes[r.Outcome].revoked {
				fail(e.Seq, "reversal names outcome %d, which the conversion did not use or is not revoked", r.Outcome)
			}
			delete(inForce, r.Conversion)
			granted[c.Learner+"/"+c.Rule.ID] -= c.Granted
			for _, it := range c.Items {
				delete(used, fmt.Sprintf("%d/%s", it.Outcome, c.Target))
			}
		case TypeConversionAdjusted:
			a := ptDecode[Adjustment](t, e.Content)
			if c, ok := inForce[a.Conversion]; !ok || a.Learner != c.Learner || a.Rule != c.Rule || a.Target != c.Target {
				fail(e.Seq, "adjusts conversion %d, which is not in force as %+v", a.Conversion, a)
			} else if c = ptAdjust(e.Seq, a, c, rules[c.Rule.ID].versions[c.Rule.Version-1], func(seq uint64) (Outcome, bool) {
				if om := outcomes[seq]; om != nil {
					return om.o, om.revoked
				}
				return Outcome{}, false
			}, granted, used, fail); len(c.Items) == 0 {
				delete(inForce, a.Conversion)
			} else {
				inForce[a.Conversion] = c
			}
		}
	}
	for seq := range answered {
		// It may have been reversed since; it must be a granted conversion.
		if seq >= uint64(len(entries)) || entries[seq].Type != TypeConversionGranted {
			t.Errorf("%s: answered conversion %d is not in the journal", where, seq)
		}
	}
	// Nothing in force uses a revoked outcome; caps hold per rule id.
	maxCap := map[string]*Amount{}
	for id, rm := range rules {
		var m Amount
		for _, v := range rm.versions {
			if v.Cap == nil {
				m = -1
				break
			}
			m = max(m, *v.Cap)
		}
		if m >= 0 {
			maxCap[id] = &m
		}
	}
	byTarget := map[string]map[string]Amount{} // learner → target → granted
	for seq, c := range inForce {
		for _, it := range c.Items {
			if outcomes[it.Outcome].revoked {
				t.Errorf("%s: conversion %d is in force but uses revoked outcome %d", where, seq, it.Outcome)
			}
		}
		if byTarget[c.Learner] == nil {
			byTarget[c.Learner] = map[string]Amount{}
		}
		byTarget[c.Learner][c.Target.String()] += c.Granted
	}
	for gk, g := range granted {
		id := gk[strings.Index(gk, "/")+1:]
		if m := maxCap[id]; m != nil && g > *m {
			t.Errorf("%s: %s holds %s in force, above every cap of the rule (%s)", where, gk, g, *m)
		}
	}
	// Compare with the bank's state.
	state, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	for gk, g := range granted {
		if raw, ok := state["granted/"+gk]; !ok || ptDecode[Amount](t, raw) != g {
			t.Errorf("%s: state granted/%s is %s, want %s", where, gk, raw, g)
		}
	}
	for _, l := range ptLearners {
		bal, err := b.Balance(l)
		if err != nil {
			t.Fatal(err)
		}
		lr := b.ref(t, l) // the journal's name of the learner
		want := byTarget[lr]
		if want == nil {
			want = map[string]Amount{}
		}
		if !reflect.DeepEqual(bal.Granted, want) {
			t.Errorf("%s: learner %s granted %v, conversions in force give %v", where, l, bal.Granted, want)
		}
		var sc Amount
		bySector := map[string]map[string]Amount{}
		for _, om := range outcomes {
			if om.o.Learner != lr || om.revoked || om.o.StandardCredits == 0 {
				continue
			}
			sc += om.o.StandardCredits
			band := levelBand(om.o.Level)
			if bySector[om.o.Sector] == nil {
				bySector[om.o.Sector] = map[string]Amount{}
			}
			bySector[om.o.Sector][band] += om.o.StandardCredits
		}
		if bal.StandardCredits != sc || !reflect.DeepEqual(bal.BySector, bySector) {
			t.Errorf("%s: learner %s balance %s %v, active outcomes give %s %v", where, l, bal.StandardCredits, bal.BySector, sc, bySector)
		}
	}
}

// ptTamperJournal is a journal with conversions of three learners under two
// versions of one rule; the conversion of learner A (returned) is the last
// that touches A, so tampering with it changes nothing that a later
// conversion depends on. It returns the entries, that conversion's seq, and
// the seq of A's failed outcome and of B's first outcome.
func ptTamperJournal(t *testing.T) (entries []ledger.Entry, convA, failedA, outcomeB uint64, b *testBank) {
	ctx := context.Background()
	b = newTestBank(t)
	col := b.institution(t, "college.example")
	b.institution(t, "univ.example")
	big := func(learner, key string, amount Amount) OutcomeInput {
		o := outcome(learner, key)
		o.Credits.Amount = amount
		return o
	}
	a1 := b.post(t, col, big("LA", "a1", 300))
	a2 := b.post(t, col, big("LA", "a2", 1000))
	f := outcome("LA", "a3")
	no := false
	f.Result.Passed = &no
	failedA = b.post(t, col, f)
	b1 := b.post(t, col, big("LB", "b1", 500))
	b2 := b.post(t, col, big("LB", "b2", 700))
	c1 := b.post(t, col, big("LC", "c1", 2000))
	rule := RuleInput{ID: "nd-cs", Target: Target{Institution: "univ.example", Programme: "BSC-CS"},
		Source: RuleSource{Sectors: []string{"non_degree"}, MinLevel: 5, Fields: []string{"06"}, MinScore: amountPtr(6000)},
		Ratio:  5000, Cap: amountPtr(700), ValidFrom: "2026-01-01"}
	if _, err := b.PublishRule(ctx, regulator, rule); err != nil {
		t.Fatal(err)
	}
	convert := func(learner string, seqs ...uint64) uint64 {
		t.Helper()
		res, err := b.Convert(ctx, admin, ConversionRequest{Learner: learner, Rule: "nd-cs", Outcomes: seqs})
		if err != nil {
			t.Fatal(err)
		}
		return res.Seq
	}
	convert("LB", b1)
	b.clock.SetDate(t, "2026-08-01")
	rule.Ratio = 6000
	if _, err := b.PublishRule(ctx, regulator, rule); err != nil {
		t.Fatal(err)
	}
	convA = convert("LA", a1, a2) // 1.8 + min(6, 7 − 1.8) = 7, capped
	b.clock.SetDate(t, "2026-08-02")
	convert("LB", b2)
	convert("LC", c1)
	b.checkReplay(t)
	return ptEntries(t, b), convA, failedA, b1, b
}

// TestAuditNamesTamperedConversion changes one conversion of a real journal
// in each way an auditor must notice (its amounts, the rule version it
// names, its date, its target, an item's outcome) and checks that a replay
// of the tampered journal reports exactly that conversion, and that the
// untampered journal reports nothing.
func TestAuditNamesTamperedConversion(t *testing.T) {
	entries, convA, failedA, outcomeB, b := ptTamperJournal(t)
	replay := func(t *testing.T, es []ledger.Entry) []Finding { return b.replayed(t, es).Findings() }
	if f := replay(t, entries); len(f) != 0 {
		t.Fatalf("untampered journal: findings %+v", f)
	}
	orig := ptDecode[Conversion](t, entries[convA].Content)
	if len(orig.Items) != 2 || orig.Granted != 700 || !orig.Capped || orig.Rule.Version != 2 {
		t.Fatalf("conversion %d is %+v; the journal is not the one this test means", convA, orig)
	}
	cases := []struct {
		name    string
		tamper  func(c *Conversion)
		problem string // fragment of the finding's text
	}{
		{"item and total granted", func(c *Conversion) { c.Items[0].Granted += 10; c.Granted += 10 }, "item 0"},
		{"item granted only", func(c *Conversion) { c.Items[1].Granted -= 1 }, "item 1"},
		{"total granted", func(c *Conversion) { c.Granted = 600 }, "records 6 granted"},
		{"capped flag", func(c *Conversion) { c.Capped = false }, "capped false"},
		{"standard credits", func(c *Conversion) { c.Items[0].StandardCredits = 400 }, "item 0"},
		{"older rule version", func(c *Conversion) { c.Rule.Version = 1 }, "version 1 while version 2"},
		{"unpublished rule version", func(c *Conversion) { c.Rule.Version = 3 }, "not published"},
		{"other rule", func(c *Conversion) { c.Rule.ID = "no-such-rule" }, "not published"},
		{"date", func(c *Conversion) { c.On = "2026-07-31" }, "dated 2026-07-31"},
		{"target", func(c *Conversion) { c.Target.Programme = "BA-ED" }, "target"},
		{"failed outcome", func(c *Conversion) { c.Items[0].Outcome = failedA }, "(failed)"},
		{"another learner's outcome", func(c *Conversion) { c.Items[1].Outcome = outcomeB }, "(not_found)"},
		{"same outcome twice", func(c *Conversion) { c.Items[1].Outcome = c.Items[0].Outcome }, "(duplicate)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tampered := slices.Clone(entries)
			c := ptDecode[Conversion](t, entries[convA].Content)
			tc.tamper(&c)
			content, err := ledger.MarshalContent(c)
			if err != nil {
				t.Fatal(err)
			}
			tampered[convA].Content = content
			// The tampered entry is still a well-formed entry.
			raw, err := tampered[convA].Encode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ledger.ParseEntry(raw); err != nil {
				t.Fatal(err)
			}
			f := replay(t, tampered)
			if len(f) != 1 || f[0].Seq != convA || !strings.Contains(f[0].Problem, tc.problem) {
				t.Fatalf("findings %+v, want exactly conversion %d with %q", f, convA, tc.problem)
			}
		})
	}
}

// TestConversionCappedFlagReplays: a conversion whose first item exactly
// uses up the cap, while a later eligible outcome gets cap_reached, must
// replay without findings.
//
// Known bug: Evaluate (engine.go) sets Capped when a later candidate gets
// ReasonCapReached, but that candidate is not an item; Replayer.recheck
// (audit.go) re-evaluates only the items, gets Capped=false, and reports
// "records 5 granted (capped true); the rule gives 5 (capped false)" for a
// conversion the bank decided correctly. TestRandomJournals tolerates this
// one finding (ptKnownCapped) until it is fixed.
func TestConversionCappedFlagReplays(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	col := b.institution(t, "college.example")
	b.institution(t, "univ.example")
	o1 := outcome("L2", "c1")
	o1.Credits.Amount = 1000 // 10 standard credits → 5 at 0.5, exactly the cap
	s1 := b.post(t, col, o1)
	s2 := b.post(t, col, outcome("L2", "c2"))
	if _, err := b.PublishRule(ctx, regulator, RuleInput{ID: "rcap", Target: Target{Institution: "univ.example", Programme: "P"},
		Source: RuleSource{Sectors: []string{"non_degree"}}, Ratio: 5000, Cap: amountPtr(500), ValidFrom: "2026-01-01"}); err != nil {
		t.Fatal(err)
	}
	c, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L2", Rule: "rcap", Outcomes: []uint64{s1, s2}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Granted != 500 || len(c.Items) != 1 || len(c.Ineligible) != 1 || c.Ineligible[0].Reason != ReasonCapReached {
		t.Fatalf("conversion %+v", c)
	}
	findings, err := b.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 {
		t.Fatalf("audit reports a correct conversion: %+v", findings)
	}
	b.checkReplay(t)
}

// TestBatchRepeatsKeyWithSameContent: a batch that carries the same
// idempotency key twice with the same content stores the first and answers
// the second as its duplicate (docs/contract.md section 3: same key, same
// content → the original, nothing written).
//
// This was a bug when these tests were written: postCmd.postOne
// (commands.go) found the first item in tx.idem, then loaded the original
// with loadOutcomeEntry(t.view.Entry, seq); the entry was not in the view yet,
// so the whole post failed with the non-domain error "entry N: ledger: not
// found" and nothing was stored. tx.entry now serves the command's own
// entries; the skip below only fires if that regresses.
func TestBatchRepeatsKeyWithSameContent(t *testing.T) {
	b := newTestBank(t)
	col := b.institution(t, "college.example")
	o := outcome("L1", "dup")
	res, err := b.PostOutcomes(context.Background(), col, []OutcomeInput{o, outcome("L1", "other"), o})
	if err != nil && CodeOf(err) == "" {
		t.Fatalf("a batch repeating a key with the same content fails with %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != PostCreated || res[1].Status != PostCreated || res[2].Status != PostDuplicate || res[2].Seq != res[0].Seq {
		t.Fatalf("results %+v", res)
	}
	b.checkReplay(t)
}

// TestHugeAmountsStayDomainErrors: the largest outcomes Validate accepts,
// posted many times for one learner and converted at the largest ratio, add
// up to totals the bank must still store; nothing may fail with an internal
// error.
func TestHugeAmountsStayDomainErrors(t *testing.T) {
	ctx := context.Background()
	b := newTestBank(t)
	col := b.institution(t, "college.example")
	var batch []OutcomeInput
	for i := range 500 {
		h := outcome("L3", fmt.Sprintf("h%d", i))
		h.Credits = Credits{Amount: MaxOutcomeCredits, System: "us-semester"}
		if err := h.Validate(); err != nil {
			t.Fatalf("MaxOutcomeCredits do not validate: %v", err)
		}
		batch = append(batch, h)
	}
	res, err := b.PostOutcomes(ctx, col, batch)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("item error %v", r.Err)
		}
	}
	if _, err := b.PublishRule(ctx, regulator, RuleInput{ID: "huge", Target: Target{Institution: "college.example", Programme: "P"},
		Source: RuleSource{Sectors: Sectors()}, Ratio: MaxRatio, ValidFrom: "2026-01-01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Convert(ctx, admin, ConversionRequest{Learner: "L3", Rule: "huge"}); err != nil {
		t.Fatalf("convert: %v", err)
	}
	bal, err := b.Balance("L3")
	if err != nil || bal.StandardCredits != 500*2812500 {
		t.Fatalf("balance %+v %v", bal, err)
	}
	b.checkReplay(t)
}

// ptAdjust checks one conversion.adjusted entry against conversion c in
// force (its items in force) under its rule version, and returns c as it
// leaves it: a reversed item leaves, a moved one names an active outcome
// of the learner in the rule's scope, not yet used toward the target,
// granting min(ratio × its standard credits, cap − what the rule granted
// the learner otherwise). granted and used are updated.
func ptAdjust(seq uint64, a Adjustment, c Conversion, rule Rule, outcomeOf func(uint64) (Outcome, bool),
	granted map[string]Amount, used map[string]uint64, fail func(uint64, string, ...any)) Conversion {
	gk := c.Learner + "/" + c.Rule.ID
	c.Items = slices.Clone(c.Items)
	for _, ch := range a.Items {
		i := slices.IndexFunc(c.Items, func(it ConversionItem) bool { return it.Outcome == ch.Outcome })
		if _, revoked := outcomeOf(ch.Outcome); i < 0 || !revoked || ch.Outcome != a.Outcome {
			fail(seq, "changes item of outcome %d, which is not a revoked item in force of conversion %+v", ch.Outcome, c)
			return c
		}
		if it := c.Items[i]; it.Granted != ch.Granted || it.StandardCredits != ch.StandardCredits {
			fail(seq, "item %+v recorded as %+v", it, ch)
		}
		delete(used, fmt.Sprintf("%d/%s", ch.Outcome, c.Target))
		granted[gk] -= ch.Granted
		c.Granted -= ch.Granted
		if ch.Action != ActionMoved {
			c.Items = slices.Delete(c.Items, i, i+1)
			continue
		}
		to := *ch.To
		o, revoked := outcomeOf(to.Outcome)
		uk := fmt.Sprintf("%d/%s", to.Outcome, c.Target)
		if _, taken := used[uk]; revoked || taken || o.Learner != c.Learner || !slices.Contains(rule.Source.Sectors, o.Sector) ||
			o.Level < rule.Source.MinLevel || o.CompletedOn > c.On || to.StandardCredits != o.StandardCredits {
			fail(seq, "moves the item to outcome %d, which is not eligible (%+v)", to.Outcome, o)
		}
		want := rule.Ratio.Apply(o.StandardCredits)
		if rule.Cap != nil {
			want = min(want, max(*rule.Cap-granted[gk], 0))
		}
		if to.Granted != want || want <= 0 {
			fail(seq, "moved item grants %s, want %s", to.Granted, want)
		}
		used[uk] = a.Conversion
		granted[gk] += to.Granted
		c.Granted += to.Granted
		c.Items[i] = to
	}
	return c
}
