package accreditation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"creditbank/ledger"
	"creditbank/vault"
)

// vaultRecords returns every learner's vault record in b's durable state.
func vaultRecords(t *testing.T, b *testBank) map[string]learnerRecord {
	t.Helper()
	out := map[string]learnerRecord{}
	err := b.read(func(r *ledger.Reader, s store) error {
		var keys []string
		if err := s.scan(vaultKeyPrefix, func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		for _, k := range keys {
			rec, err := getJSON[learnerRecord](s, k)
			if err != nil {
				return err
			}
			out[k[len(vaultKeyPrefix):]] = *rec
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rtSetupKeyFile is rtSetup with the vault's keys in a key file in keyDir,
// as a server keeps them, so that a rotation persists.
func rtSetupKeyFile(t *testing.T, keyDir string) (*testBank, Actor, *vault.Keys) {
	t.Helper()
	vk, err := vault.Open(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	b, college, _ := rtSetup(t)
	b.vault = vk
	return b.reopen(t), college, vk
}

// TestRotateKEK: a rotation while posts for new and known learners go on
// leaves every data key wrapped under the new KEK only, the old KEK gone
// from the key file, every outcome readable (also after a restart that
// reads the key file again), and no old wrapped key in the store's files
// but write-ahead logs; an erased learner's old wrapped key does not open
// under the keys that remain.
func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	keyDir := t.TempDir()
	b, college, vk := rtSetupKeyFile(t, keyDir)
	college = Actor{Role: RoleInstitution, ID: college.ID}
	const learners = 1100 // more than two rewrap batches
	batch := make([]OutcomeInput, 0, learners)
	for i := range learners {
		batch = append(batch, outcome(fmt.Sprintf("R%05d", i), fmt.Sprintf("r-%d", i)))
	}
	if res, err := b.PostOutcomes(ctx, college, batch); err != nil || res[learners-1].Status != PostCreated {
		t.Fatalf("post: %v", err)
	}
	e, err := b.EraseLearner(ctx, admin, "R00007", "request")
	if err != nil {
		t.Fatal(err)
	}
	before := vaultRecords(t, b)
	if _, ok := before[e.Ref]; ok {
		t.Fatal("the erased learner's key is still in the vault")
	}
	sample := before[b.ref(t, "R00003")].Wrapped

	// Posts for new learners and for known ones race the rotation.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	posted := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o := outcome(fmt.Sprintf("NEW%05d", i), fmt.Sprintf("n-%d", i))
			known := outcome(fmt.Sprintf("R%05d", i%learners+10), fmt.Sprintf("k-%d", i))
			if i%learners+10 == 7 {
				known.Learner = "R00008"
			}
			res, err := b.PostOutcomes(ctx, college, []OutcomeInput{o, known})
			if err != nil || res[0].Status != PostCreated || res[1].Status != PostCreated {
				t.Errorf("post during rotation: %+v %v", res, err)
				return
			}
			posted++
		}
	}()
	steps := 0
	rot, err := b.RotateKEK(ctx, func(int) { steps++ })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rot.From, []uint32{1}) || rot.To != 2 || rot.Rewrapped < learners-1 || steps < 3 {
		t.Fatalf("rotation %+v in %d steps", rot, steps)
	}
	if got := vk.KEKs(); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("KEKs after the rotation: %v", got)
	}
	t.Logf("rotation %+v in %d batches; %d posts raced it", rot, steps, posted)
	for ref, rec := range vaultRecords(t, b) {
		if id, _ := vault.WrappedUnder(rec.Wrapped); id != 2 {
			t.Errorf("learner %s: key wrapped under KEK %d after the rotation", ref, id)
		}
	}
	if _, err := vk.Unwrap(b.ref(t, "R00003"), sample); !errors.Is(err, vault.ErrUnknownKEK) {
		t.Errorf("a key wrapped under the retired KEK opened: %v", err)
	}
	if files := filesHolding(t, b.dir, sample, isWAL); len(files) > 0 {
		t.Errorf("the old wrapped key is still in %v", files)
	}
	// A restart reads the key file again and every outcome still opens.
	reloaded, err := vault.Load(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	b.vault = reloaded
	b = b.reopen(t)
	for _, id := range []string{"R00000", "R01099", "NEW00000"} {
		if tr := rtTranscript(t, b, id); len(tr.Outcomes) == 0 || tr.Outcomes[0].Unit.Title == "" || tr.Outcomes[0].Learner != id {
			t.Errorf("%s after the rotation: %+v", id, tr.Outcomes)
		}
	}
	b.checkReplay(t)
	// A second rotation starts from the one left.
	rot, err = b.RotateKEK(ctx, nil)
	if err != nil || !slices.Equal(rot.From, []uint32{2}) || rot.To != 3 {
		t.Fatalf("second rotation %+v %v", rot, err)
	}
}

// TestStaleKEKRefused: a learner's first record wrapped before a rotation
// began is refused in the sequencer, so that no data key is ever written
// under a KEK on its way out; the bank prepares the command again.
func TestStaleKEKRefused(t *testing.T) {
	ctx := context.Background()
	b, _, _ := rtSetup(t)
	lp, err := b.prepareOne("STALE1")
	if err != nil || !lp.New || lp.KEK != 1 {
		t.Fatalf("prepared %+v %v", lp, err)
	}
	if _, err := b.vault.BeginRotation(); err != nil {
		t.Fatal(err)
	}
	g := grantOf("STALE1", rtUniv)
	_, err = b.do(ctx, createGrantCmd{Actor: rtLearner("STALE1"), Grant: g, Learner: lp})
	if !errors.Is(err, errStaleKEK) {
		t.Fatalf("a record wrapped under the retiring KEK: %v", err)
	}
	if _, err := b.CreateGrant(ctx, rtLearner("STALE1"), g); err != nil {
		t.Fatal(err)
	}
	rec := vaultRecords(t, b)[b.ref(t, "STALE1")]
	if id, _ := vault.WrappedUnder(rec.Wrapped); id != 2 {
		t.Fatalf("the learner's key is wrapped under KEK %d", id)
	}
}

// TestRotateIndexKey: after the index key rotates, every learner is found
// by their id under the new key (the directory holds only the new hashes),
// reads as before, also after a restart that reads the key file; an erased
// id's mark is dropped, and a post for it makes a new learner who holds
// nothing of the old one.
func TestRotateIndexKey(t *testing.T) {
	ctx := context.Background()
	keyDir := t.TempDir()
	b, college, vk := rtSetupKeyFile(t, keyDir)
	for _, id := range []string{"IDXA", "IDXB", "IDXC"} {
		b.post(t, college, outcome(id, "o-"+id))
	}
	refA, oldHash := b.ref(t, "IDXA"), vk.IndexHash("IDXA")
	erased, err := b.EraseLearner(ctx, admin, "IDXC", "request")
	if err != nil {
		t.Fatal(err)
	}
	rot, err := b.RotateIndexKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Learners != 2 || rot.TombstonesDropped != 1 {
		t.Fatalf("rotation %+v", rot)
	}
	if vk.IndexHash("IDXA") == oldHash {
		t.Fatal("the index key did not change")
	}
	dir := map[string]string{}
	err = b.read(func(_ *ledger.Reader, s store) error {
		var keys []string
		if err := s.scan(vaultDirPrefix, func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		for _, k := range keys {
			v, err := s.get(k)
			if err != nil {
				return err
			}
			dir[k[len(vaultDirPrefix):]] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dir) != 2 || dir[vk.IndexHash("IDXA")] != refA || dir[vk.IndexHash("IDXB")] == "" {
		t.Fatalf("directory after the rotation: %v", dir)
	}
	reloaded, err := vault.Load(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	b.vault = reloaded
	b = b.reopen(t)
	for _, id := range []string{"IDXA", "IDXB"} {
		if tr := rtTranscript(t, b, id); len(tr.Outcomes) != 1 || tr.Outcomes[0].Learner != id {
			t.Fatalf("%s after the rotation: %+v", id, tr.Outcomes)
		}
	}
	b.post(t, college, outcome("IDXC", "o-IDXC-new"))
	if ref := b.ref(t, "IDXC"); ref == erased.Ref {
		t.Fatal("an erased learner came back under their old reference")
	}
	if tr := rtTranscript(t, b, "IDXC"); len(tr.Outcomes) != 1 || tr.Outcomes[0].IdempotencyKey != "o-IDXC-new" {
		t.Fatalf("the new IDXC holds %+v", tr.Outcomes)
	}
	b.checkReplay(t)
}
