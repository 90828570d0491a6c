package accreditation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"creditbank/ledger"
)

// Property tests of recognition cases: random cases, steps in random
// order by random actors on random days, grants of random amounts and
// revocations. Whatever happens:
//   - a step out of order (a decision before a review, a review after the
//     decision, an appeal before a decision or after AppealDays days, a
//     second decision or appeal, an appeal decision before the appeal) is
//     refused with CodeConflict and writes nothing, and every step the
//     bank takes is one the order allows;
//   - what the cases grant, in force, never passes an outcome's worth nor
//     the programme's limits (max_converted_share, max_per_institution,
//     the term and year caps);
//   - the replay finds nothing and rebuilds the live state.

// rpModel is what the test knows of a case.
type rpModel struct {
	id                               string
	outcomes                         []uint64
	reviews                          int
	decided, appealed, appealDecided bool
	decidedOn                        string
}

// orderAllows says whether the case's steps let a step of typ be taken
// on date.
func (m *rpModel) orderAllows(typ, date string) bool {
	switch typ {
	case TypeRecognitionReviewed:
		return !m.decided
	case TypeRecognitionDecided:
		return !m.decided && m.reviews > 0
	case TypeRecognitionAppealed:
		return m.decided && !m.appealed && daysBetween(m.decidedOn, date) <= AppealDays
	case TypeRecognitionAppealDecided:
		return m.appealed && !m.appealDecided
	}
	return false
}

func TestRecognitionProperties(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { rpRun(t, uint64(seed)) })
	}
}

func rpRun(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 25))
	b := newTestBank(t)
	univ := b.institution(t, rtUniv)
	sources := []Actor{b.institution(t, "work-a.example"), b.institution(t, "work-b.example")}
	p := acbsProgramme()
	p.MaxPerInstitution = amountPtr(Amount(1000 + 100*rng.IntN(20)))
	p.MaxConvertedShare = amountPtr(Amount(10 + rng.IntN(30))) // of 140: 14 to 56 credits
	if _, err := b.PublishProgramme(ctx, regulator, p); err != nil {
		t.Fatal(err)
	}
	learners := []Actor{{Role: RoleLearner, ID: "L1"}, {Role: RoleLearner, ID: "L2"}}
	owned := map[string][]uint64{}
	sourceOf := map[uint64]Actor{}
	for i := range 14 {
		l := learners[i%2]
		src := sources[rng.IntN(2)]
		o := outcome(l.ID, fmt.Sprintf("s%d-%d", seed, i))
		o.Sector, o.Level = "workplace", 4+rng.IntN(3)
		o.Credits = Credits{Amount: Amount(100 * (1 + rng.IntN(8))), System: "cn-credit"}
		o.CompletedOn = []string{"2025-03-01", "2025-09-01", "2026-02-01", "2026-05-01"}[rng.IntN(4)]
		seq := b.post(t, src, o)
		owned[l.ID] = append(owned[l.ID], seq)
		sourceOf[seq] = src
	}
	var cases []*rpModel
	learnerOf := map[string]Actor{}
	date := "2026-07-15"
	for op := range 60 {
		where := fmt.Sprintf("seed %d op %d", seed, op)
		if rng.IntN(6) == 0 { // days pass
			date = addDays(date, rng.IntN(20))
			b.clock.SetDate(t, date)
		}
		if len(cases) == 0 || rng.IntN(5) == 0 {
			l := learners[rng.IntN(2)]
			pick := slices.Clone(owned[l.ID])
			rng.Shuffle(len(pick), func(i, j int) { pick[i], pick[j] = pick[j], pick[i] })
			pick = pick[:1+rng.IntN(len(pick))]
			rc, err := b.ApplyForRecognition(ctx, l, rcApplicationOf(l.ID, pick))
			if CodeOf(err) == CodeInvalid {
				continue // an outcome revoked meanwhile
			}
			if err != nil {
				t.Fatalf("%s: apply: %v", where, err)
			}
			cases = append(cases, &rpModel{id: rc.ID, outcomes: pick})
			learnerOf[rc.ID] = l
			continue
		}
		m := cases[rng.IntN(len(cases))]
		typ := []string{TypeRecognitionReviewed, TypeRecognitionDecided, TypeRecognitionAppealed, TypeRecognitionAppealDecided}[rng.IntN(4)]
		if rng.IntN(8) == 0 { // an outcome revoked
			all := owned[learnerOf[m.id].ID]
			seq := all[rng.IntN(len(all))]
			if _, err := b.Revoke(ctx, sourceOf[seq], seq, "error"); err != nil && CodeOf(err) != CodeConflict {
				t.Fatalf("%s: revoke: %v", where, err)
			}
			rpLimits(t, b, p, sources, where)
			continue
		}
		size := b.Ledger().Size()
		var err error
		switch typ {
		case TypeRecognitionReviewed:
			_, err = b.ReviewRecognition(ctx, univ, m.id, "Read.")
		case TypeRecognitionAppealed:
			_, err = b.AppealRecognition(ctx, learnerOf[m.id], m.id, "Please.")
		default:
			d := RecognitionDecision{Decision: DecisionRefused, Reasons: "Because."}
			if rng.IntN(3) > 0 {
				d.Decision = DecisionGranted
				for _, seq := range m.outcomes {
					if rng.IntN(3) > 0 {
						d.Items = append(d.Items, RecognitionGrant{Outcome: seq, Amount: Amount(50 * (1 + rng.IntN(16)))})
					}
				}
				if len(d.Items) == 0 {
					d.Items = append(d.Items, RecognitionGrant{Outcome: m.outcomes[0], Amount: 100})
				}
			}
			if typ == TypeRecognitionDecided {
				_, err = b.DecideRecognition(ctx, univ, m.id, d)
			} else {
				_, err = b.DecideRecognitionAppeal(ctx, regulator, m.id, d)
			}
		}
		allowed := m.orderAllows(typ, date)
		switch {
		case !allowed && CodeOf(err) != CodeConflict:
			t.Fatalf("%s: %s of %s out of order gave %v", where, typ, m.id, err)
		case !allowed && b.Ledger().Size() != size:
			t.Fatalf("%s: a refused step wrote", where)
		case allowed && err != nil && !slices.Contains([]Code{CodeInvalid, CodeNotEligible, CodeConflict}, CodeOf(err)):
			t.Fatalf("%s: %s of %s: %v", where, typ, m.id, err)
		case allowed && err == nil:
			switch typ {
			case TypeRecognitionReviewed:
				m.reviews++
			case TypeRecognitionDecided:
				m.decided, m.decidedOn = true, date
			case TypeRecognitionAppealed:
				m.appealed = true
			case TypeRecognitionAppealDecided:
				m.appealDecided = true
			}
		}
		rpLimits(t, b, p, sources, where)
	}
	b.checkReplay(t)
}

func rcApplicationOf(learner string, outcomes []uint64) RecognitionApplication {
	a := rcApplication(outcomes...)
	a.Learner = learner
	return a
}

// rpLimits checks what the cases grant in force against each outcome's
// worth and the programme's limits, from the state.
func rpLimits(t *testing.T, b *testBank, p ProgrammeInput, sources []Actor, where string) {
	t.Helper()
	byLearner := map[string]map[string]Amount{} // learner → term, "inst/…", "all" → granted
	err := b.read(func(_ *ledger.Reader, s store) error {
		return s.scan("rcase/", func(k string) bool {
			cs, err := getJSON[caseState](s, k)
			if err != nil {
				t.Fatal(err)
			}
			m := byLearner[cs.Learner]
			if m == nil {
				m = map[string]Amount{}
				byLearner[cs.Learner] = m
			}
			for _, it := range cs.InForce {
				st, err := getJSON[outcomeState](s, outKey(it.Outcome))
				if err != nil {
					t.Fatal(err)
				}
				if it.Granted > st.StandardCredits || it.Granted > it.Requested || st.Revoked || st.Level < p.MinLevel {
					t.Fatalf("%s: case %s grants %s of outcome %d worth %s (revoked %t, level %d)", where, RecognitionID(cs.Seq), it.Granted, it.Outcome, st.StandardCredits, st.Revoked, st.Level)
				}
				m["all"] += it.Granted
				m["inst/"+st.Institution] += it.Granted
				m[termOf(st.CompletedOn)] += it.Granted
				m[st.CompletedOn[:4]] += it.Granted
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	share := Amount(int64(p.Total) * int64(*p.MaxConvertedShare) / amountScale)
	for l, m := range byLearner {
		for k, g := range m {
			var limit Amount
			switch {
			case k == "all":
				limit = share
			case len(k) > 5 && k[:5] == "inst/":
				limit = *p.MaxPerInstitution
			case len(k) == 4:
				limit = *p.PeriodCaps.Year
			default:
				limit = *p.PeriodCaps.Term
			}
			if g > limit {
				t.Fatalf("%s: learner %s: the cases grant %s in %s, past the limit %s", where, l, g, k, limit)
			}
		}
	}
}
