package accreditation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"creditbank/ledger"
	"creditbank/vault"
)

// The simulation's model and steps for erasure (docs/contract.md section
// 11): an admin erases a learner now and then, mostly one the bank holds
// data of, sometimes one already erased, one never written for, or as
// someone who may not. From then on the model expects every command for
// the learner (posts, repeats of their earlier posts, conversions,
// previews, grants) and every read of them refused with CodeErased, and the
// other learners unaffected. Some erasures are cut off by a power cut at
// a chosen sync of the store while they are in flight: the model then
// takes whichever of the two outcomes the restarted store shows, as long as
// it is one of them. Every replay (at the end and after each power cut)
// must find nothing, rebuild the same state, and list as not re-runnable
// exactly the conversions and changes of erased learners that needed a
// score (a rule with a minimum score), whose key is gone.

// eraseWant is the model's answer to actor erasing learner for reason, in
// the order the bank checks: the role, the reason, an earlier erasure, and
// whether anything was ever written for the learner (their first outcome
// gives them a reference; nothing else in the simulation does).
func (m *simModel) eraseWant(actor Actor, learner, reason string) Code {
	_, gone := m.erased[learner]
	switch {
	case actor.Role != RoleAdmin:
		return CodeForbidden
	case reason == "":
		return CodeInvalid
	case gone:
		return CodeErased
	case len(m.byLearner[learner]) == 0:
		return CodeNotFound
	}
	return ""
}

// erase records the erasure of learner as the next entry and returns its
// seq. Nothing else changes: the learner's outcomes and conversions stay
// in the journal and in the other learners' view of it.
func (m *simModel) erase(learner string) uint64 {
	seq := m.next
	m.next++
	m.erased[learner] = seq
	return seq
}

// notRerunnable is what a replay cannot re-run once keys are gone, in seq
// order: the conversions of erased learners under a rule version with a
// minimum score (re-running one reads the sealed scores of its items), and
// their changes decided against a superseding outcome (which read that
// outcome's score). A change that only reverses an item reads no score.
func (m *simModel) notRerunnable() []uint64 {
	var out []uint64
	for seq, c := range m.convs {
		if _, gone := m.erased[c.learner]; !gone || m.rules[c.rule.ID].versions[c.rule.Version-1].in.Source.MinScore == nil {
			continue
		}
		out = append(out, seq)
		for _, a := range c.adjusted {
			if m.towardSuccessor[a] {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// conversionOf is the conversion entry seq records or changes, or nil.
func (m *simModel) conversionOf(seq uint64) *simConv {
	if c := m.convs[seq]; c != nil {
		return c
	}
	for _, c := range m.convs {
		if slices.Contains(c.adjusted, seq) {
			return c
		}
	}
	return nil
}

// learnersByErasure splits the learners in play into those whose data the
// bank keeps and those erased, in the order they came into play.
func (s *simRun) learnersByErasure() (live, gone []string) {
	for _, l := range s.learners {
		if _, erased := s.m.erased[l]; erased {
			gone = append(gone, l)
		} else {
			live = append(live, l)
		}
	}
	return live, gone
}

// pickLearner is a learner for a command: now and then an erased one,
// whose commands are refused, mostly one whose data the bank keeps.
func (s *simRun) pickLearner() string {
	live, gone := s.learnersByErasure()
	if len(gone) > 0 && s.chance(0.08) {
		return simPick(s, gone)
	}
	return simPick(s, live)
}

// mostlyLive keeps an outcome of an erased learner out of the outcomes a
// supersession or repeat is drawn from, but now and then: one for an
// erased learner is refused whatever else it carries, and the others are
// what exercise moving conversion items and duplicates.
func (s *simRun) mostlyLive(o *simOutcome) bool {
	if _, gone := s.m.erased[o.in.Learner]; !gone {
		return true
	}
	return s.chance(0.1)
}

// erase has someone erase a learner: mostly an admin erasing one the bank
// holds data of, sometimes a learner already erased, or never written for,
// a reason left out, or an actor who may not erase. An erasure that is to
// succeed is, now and then, cut off by a power cut while in flight.
func (s *simRun) erase() {
	live, gone := s.learnersByErasure()
	learner := simPick(s, live)
	// Half the time one with a conversion, which a replay may then be
	// unable to re-run.
	converted := map[string]bool{}
	for _, c := range s.m.convs {
		converted[c.learner] = true
	}
	withConv := slices.DeleteFunc(slices.Clone(live), func(l string) bool { return !converted[l] })
	if len(withConv) > 0 && s.chance(0.5) {
		learner = simPick(s, withConv)
	}
	switch r := s.rng.Float64(); {
	case r < 0.15 && len(gone) > 0:
		learner = simPick(s, gone)
	case r < 0.25:
		learner = fmt.Sprintf("N%d", s.step) // never written for
	}
	actor := admin
	switch r := s.rng.Float64(); {
	case r < 0.06:
		actor = regulator
	case r < 0.09:
		actor = Actor{Role: RoleLearner, ID: learner}
	case r < 0.12:
		actor = Actor{Role: RoleInstitution, ID: simPick(s, simInstitutions)}
	}
	reason := "the learner's request of " + s.today()
	if s.chance(0.03) {
		reason = ""
	}
	id := learner
	if s.chance(0.2) {
		id = strings.ToLower(learner) // the same learner
	}
	want := s.m.eraseWant(actor, learner, reason)
	op := fmt.Sprintf("erase %s by %s", id, actor)
	var ref string
	if want == "" {
		var err error
		if ref, err = s.b.LearnerRef(learner); err != nil || !vault.IsRef(ref) {
			s.fatalf("%s: the learner's reference before the erasure is %q (%v)", op, ref, err)
		}
		if s.chance(0.3) {
			s.eraseCut(op, actor, id, learner, reason, ref)
			return
		}
	}
	e, err := s.b.EraseLearner(s.ctx, actor, id, reason)
	s.code(op, err, want)
	if want != "" {
		s.eraseRefused++
		return
	}
	s.checkErasure(op, e, learner, ref, reason)
	s.erasures++
	s.erased(op, learner, ref, reason)
}

// eraseCut runs an erasure and cuts the power at a chosen sync of the
// store while it is in flight (half the time the first, before the entry's
// batch is synced; else one of the flush and compaction that purge the key
// after it), keeping a random share of what was not synced; when the
// erasure syncs fewer times than that, the cut comes right after its
// answer. The original store goes on and answers; the restarted one is
// what counts: it must hold the erasure whole (entry, tombstone, key gone)
// or not at all (key and reference there), and must hold it if it was
// answered before the cut. Which of the two a cut in flight leaves is the
// store's to decide, as a sync the store runs in the background may come
// first: the model takes either.
func (s *simRun) eraseCut(op string, actor Actor, id, learner, reason, ref string) {
	crng := rand.New(rand.NewPCG(s.seed, uint64(s.step)|1<<32))
	unsynced := crng.IntN(101)
	cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: crng}
	at := 1 // mostly the entry's batch, which may be lost
	if s.chance(0.5) {
		at = 2 + s.rng.IntN(simEraseSyncs-1) // mostly the purge, the entry synced
	}
	s.cut.arm(s.fs, at, cfg)
	e, err := s.b.EraseLearner(s.ctx, actor, id, reason)
	clone, syncs := s.cut.disarm()
	s.code(op, err, "")
	s.checkErasure(op, e, learner, ref, reason)
	where := fmt.Sprintf("after a power cut at sync %d of the erasure of %s, keeping %d%% of unsynced data", at, learner, unsynced)
	answered := clone == nil
	if answered {
		where = fmt.Sprintf("after a power cut right after the erasure of %s (%d syncs), keeping %d%% of unsynced data", learner, syncs, unsynced)
		clone = s.fs.CrashClone(cfg)
	}
	s.restart(clone)
	switch size := s.l.Size(); {
	case size == s.m.next+1:
		if answered {
			s.erasures++
		} else {
			s.erasedInFlight++
		}
		s.erased(op+" ("+where+")", learner, ref, reason)
	case size == s.m.next && !answered:
		s.erasedInFlight++
		s.erasedLost++
		// Lost whole: the key and the way to it are there, and the
		// learner reads as before (checkAll).
		if got, err := s.b.LearnerRef(learner); err != nil || got != ref {
			s.fatalf("%s %s: the erasure is not in the journal, but the learner's reference is %q (%v), was %q", op, where, got, err, ref)
		}
	default:
		s.fatalf("%s %s: the ledger holds %d entries; %d were acknowledged before the erasure", op, where, size, s.m.next)
	}
	s.checkRestarted(where)
}

// simEraseSyncs bounds the sync an erasure's power cut is chosen at: as
// many as an erasure makes, all but rarely (the first syncs the entry's
// batch, the others the flush and the compaction that purge the vault's
// keys), so that the cuts fall inside it.
const simEraseSyncs = 8

// checkErasure checks the bank's answer to an erasure the model grants.
func (s *simRun) checkErasure(op string, e Erasure, learner, ref, reason string) {
	s.t.Helper()
	want := Erasure{Seq: s.m.next, RecordedAt: e.RecordedAt, Learner: learner, Reason: reason, Ref: ref}
	if e != want {
		s.fatalf("%s: bank %+v, the model %+v", op, e, want)
	}
}

// erased records an erasure the store holds: in the model, with the
// entry checked, a new learner brought into play so that as many stay
// alive, and every kind of command for the erased learner tried once.
func (s *simRun) erased(op, learner, ref, reason string) {
	seq := s.m.erase(learner)
	err := s.l.Read(func(r *ledger.Reader) error {
		raw, err := r.Entry(seq)
		if err != nil {
			return err
		}
		e, err := ledger.ParseEntry(raw)
		if err != nil {
			return err
		}
		var c LearnerErased
		if e.Type != TypeLearnerErased || json.Unmarshal(e.Content, &c) != nil || c != (LearnerErased{Learner: ref, Reason: reason}) {
			return fmt.Errorf("entry %d is %s %s, want %s naming %s", seq, e.Type, e.Content, TypeLearnerErased, ref)
		}
		return nil
	})
	if err != nil {
		s.fatalf("%s: %v", op, err)
	}
	s.learners = append(s.learners, fmt.Sprintf("L%d", len(s.learners)+1))
	s.probeErased(op, learner)
}

// probeErased tries, right after an erasure, what the random steps try
// only now and then: a repeat of one of the learner's posts under its
// key, a conversion and a preview by the learner, and a grant.
func (s *simRun) probeErased(op, learner string) {
	if seqs := s.m.byLearner[learner]; len(seqs) > 0 {
		o := s.m.outcomes[simPick(s, seqs)]
		items := []OutcomeInput{o.in}
		res, err := s.b.PostOutcomes(s.ctx, Actor{Role: RoleInstitution, ID: o.inst}, items)
		want, wcode := s.m.post(o.inst, items, []bool{false}, s.latestCompletion())
		s.code(op+": repeat of outcome "+fmt.Sprint(o.seq), err, wcode)
		if wcode == "" {
			if want[0].code != CodeErased || res[0].Status != PostRejected || CodeOf(res[0].Err) != CodeErased {
				s.fatalf("%s: repeat of outcome %d: bank %s %v, the model %s %q", op, o.seq, res[0].Status, res[0].Err, want[0].status, want[0].code)
			}
			s.refusedErased++
		}
	}
	me := Actor{Role: RoleLearner, ID: learner}
	req := ConversionRequest{Learner: learner, Rule: simPick(s, simRuleIDs)}
	s.preview(op+": conversion", me, req, s.today())
	_, err := s.b.Convert(s.ctx, me, req)
	s.code(op+": conversion", err, s.m.convert(me, req, s.today()).code)
	_, err = s.b.CreateGrant(s.ctx, me, GrantCreated{Learner: learner, Institution: simInstitutions[0], Purpose: "admission", ExpiresOn: s.day(30)})
	s.code(op+": grant", err, CodeErased)
}

// readErased checks that a read of an erased learner was refused as such.
func (s *simRun) readErased(where, what, learner string, err error) {
	s.t.Helper()
	if CodeOf(err) != CodeErased {
		s.fatalf("%s: %s of %s, erased at entry %d: %v, want %s", where, what, learner, s.m.erased[learner], err, CodeErased)
	}
	s.readsErased++
}

// checkErasedReads checks that every read of an erased learner is refused
// (the balance is checkBalances').
func (s *simRun) checkErasedReads(where, learner string) {
	_, err := s.b.Transcript(learner, "", 100)
	s.readErased(where, "transcript", learner, err)
	_, err = s.b.Grants(learner, "", 10)
	s.readErased(where, "grants", learner, err)
	_, err = s.b.ActiveGrant(simInstitutions[0], learner)
	s.readErased(where, "active grant", learner, err)
	_, err = s.b.InstitutionOutcomes(InstitutionOutcomesQuery{Institution: simInstitutions[0], Learner: learner, Limit: 10})
	s.readErased(where, "institution's outcomes", learner, err)
	_, err = s.b.LearnerRef(learner)
	s.readErased(where, "reference", learner, err)
}

// checkReplay replays the whole journal: it must find nothing, rebuild the
// bank's state key for key (the vault's keys aside, which no entry
// derives), count the model's erasures and outcomes (all sealed), and
// list as not re-runnable exactly what the model says needed an erased
// learner's score.
func (s *simRun) checkReplay(where string) {
	rp, err := s.b.Replay(s.ctx)
	if err != nil {
		s.fatalf("%s: replay: %v", where, err)
	}
	if findings := rp.Findings(); len(findings) > 0 {
		s.fatalf("%s: replay findings: %+v", where, findings)
	}
	live, err := s.b.State()
	if err != nil {
		s.fatalf("%s: state: %v", where, err)
	}
	replayed := rp.State()
	for _, k := range slices.Sorted(maps.Keys(live)) {
		if v, ok := replayed[k]; !ok || !bytes.Equal(v, live[k]) {
			s.fatalf("%s: state %s: live %s, replayed %s", where, k, live[k], v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(replayed)) {
		if _, ok := live[k]; !ok {
			s.fatalf("%s: state %s only in the replay", where, k)
		}
	}
	rep := rp.Erasure()
	if rep.Erased != len(s.m.erased) || rep.SealedOutcomes != len(s.m.outcomes) || rep.PlaintextOutcomes != 0 {
		s.fatalf("%s: replay saw %d erasures, %d sealed and %d plaintext outcomes; the model holds %d erasures and %d outcomes, all sealed",
			where, rep.Erased, rep.SealedOutcomes, rep.PlaintextOutcomes, len(s.m.erased), len(s.m.outcomes))
	}
	for _, seq := range rep.NotRerunnable {
		c := s.m.conversionOf(seq)
		if c == nil {
			s.fatalf("%s: replay lists entry %d as not re-runnable, which is no conversion or conversion change", where, seq)
		}
		if _, gone := s.m.erased[c.learner]; !gone {
			s.fatalf("%s: replay lists entry %d (of conversion %d) as not re-runnable, whose learner %s was not erased", where, seq, c.seq, c.learner)
		}
	}
	if want := s.m.notRerunnable(); !slices.Equal(rep.NotRerunnable, want) {
		s.fatalf("%s: replay lists %v as not re-runnable, the model %v", where, rep.NotRerunnable, want)
	}
	s.notRerunnable = len(rep.NotRerunnable)
}

// simSyncHook cuts the power at a chosen sync: once armed with a count n,
// it clones the file system as a power cut would leave it just before the
// n-th sync of a file or directory from then on, before that sync makes
// anything durable. The syncs are those of whatever goroutine the store
// runs them on.
type simSyncHook struct {
	mu    sync.Mutex
	fs    *vfs.MemFS
	left  int // syncs until the cut; 0 when not armed
	syncs int // syncs seen since armed
	cfg   vfs.CrashCloneCfg
	clone *vfs.MemFS
}

// arm has the hook clone fs at the at-th sync from now.
func (h *simSyncHook) arm(fs *vfs.MemFS, at int, cfg vfs.CrashCloneCfg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fs, h.left, h.syncs, h.cfg, h.clone = fs, at, 0, cfg, nil
}

// disarm returns the clone taken, nil when fewer syncs came, and how many
// syncs came since arm.
func (h *simSyncHook) disarm() (*vfs.MemFS, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clone, syncs := h.clone, h.syncs
	h.fs, h.left, h.clone = nil, 0, nil
	return clone, syncs
}

func (h *simSyncHook) beforeSync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fs == nil {
		return
	}
	h.syncs++
	if h.left--; h.left == 0 {
		h.clone = h.fs.CrashClone(h.cfg)
		h.fs = nil
	}
}

// simSyncFS is the simulation's file system as the store sees it: every
// file and directory opened for writing calls the hook before it syncs.
type simSyncFS struct {
	vfs.FS
	hook *simSyncHook
}

func (fs simSyncFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, category))
}

func (fs simSyncFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, category, opts...))
}

func (fs simSyncFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname, category))
}

func (fs simSyncFS) OpenDir(name string) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenDir(name))
}

func (fs simSyncFS) Unwrap() vfs.FS { return fs.FS }

func (fs simSyncFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return simSyncFile{File: f, hook: fs.hook}, nil
}

type simSyncFile struct {
	vfs.File
	hook *simSyncHook
}

func (f simSyncFile) Sync() error {
	f.hook.beforeSync()
	return f.File.Sync()
}

func (f simSyncFile) SyncData() error {
	f.hook.beforeSync()
	return f.File.SyncData()
}

func (f simSyncFile) SyncTo(length int64) (bool, error) {
	f.hook.beforeSync()
	return f.File.SyncTo(length)
}
