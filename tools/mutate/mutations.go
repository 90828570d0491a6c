package main

// mutations are the planted bugs, one per core invariant: each names the
// exact text it changes and the tests that should catch it. The old texts
// must follow the code; the run stops when one is no longer found.
var mutations = []mutation{
	{
		Name:  "standard credits and grants round half-up instead of half-even",
		Edits: []edit{{"accreditation/decimal.go", "if half := den - rem; rem > half || rem == half && q&1 == 1 {", "if half := den - rem; rem >= half {"}},
		Tests: []testRun{
			{"./accreditation", []string{"TestStandardCredits", "TestMulDivRoundHalfEven", "TestRatioApply"}},
			{"./conformance", []string{"TestVectorsByHand"}},
			{"./conformance", []string{"TestVectors"}},
		},
	},
	{
		Name:  "the cap ignores what the rule granted before (cap − granted becomes cap)",
		Edits: []edit{{"accreditation/engine.go", "remaining = max(*rule.Cap-alreadyGranted, 0)", "remaining = max(*rule.Cap, 0)"}},
		Tests: []testRun{
			{"./accreditation", []string{"TestRulesCaps", "TestConcurrentConversionsRespectCap"}},
			{"./conformance", []string{"TestVectorsByHand"}},
			{"./conformance", []string{"TestVectors"}},
		},
	},
	{
		Name:  "an idempotency key reused with other content is taken as a duplicate",
		Edits: []edit{{"accreditation/commands.go", "if prev.Hash != hash {", "if false && prev.Hash != hash {"}},
		Tests: []testRun{
			{"./accreditation", []string{"TestRandomJournals", "TestBatchRepeatsKeyWithSameContent", "TestConcurrentPostsIdempotent"}},
			{"./api", []string{"TestStory", "TestProblems"}},
		},
	},
	{
		Name:  "institution tokens may live a day (the limit is 10 minutes)",
		Edits: []edit{{"api/auth.go", "case exp.Sub(c.IssuedAt.Time) > MaxInstitutionTokenLifetime:", "case exp.Sub(c.IssuedAt.Time) > 24*time.Hour:"}},
		Tests: []testRun{{"./api", []string{"TestTokenAttacks"}}},
	},
	{
		Name:  "an institution token of exactly 10 minutes is refused",
		Edits: []edit{{"api/auth.go", "case exp.Sub(c.IssuedAt.Time) > MaxInstitutionTokenLifetime:", "case exp.Sub(c.IssuedAt.Time) >= MaxInstitutionTokenLifetime:"}},
		Tests: []testRun{{"./api", []string{"TestTokenAttacks"}}},
	},
	{
		Name:  "the suite's RFC 6962 leaf hash prefix is 0x01, not 0x00",
		Edits: []edit{{"conformance/rfc6962.go", "return sha256.Sum256(append([]byte{0x00}, entry...))", "return sha256.Sum256(append([]byte{0x01}, entry...))"}},
		Tests: []testRun{{"./conformance", []string{"TestRFC6962"}}},
	},
	{
		Name:  "the suite's RFC 6962 node hash prefix is 0x00, not 0x01",
		Edits: []edit{{"conformance/rfc6962.go", "b = append(b, 0x01)", "b = append(b, 0x00)"}},
		Tests: []testRun{{"./conformance", []string{"TestRFC6962"}}},
	},
	{
		Name:  "checkpoints are signed over the sequencer's head, not the durable one",
		Edits: []edit{{"ledger/sequencer.go", "\th := d.head\n\td.release()", "\th := l.head\n\td.release()"}},
		Tests: []testRun{
			{"./ledger", []string{"TestPowerCut", "TestProofsSmallTrees", "TestSignedCheckpointRoot", "TestSequencerConcurrentAppends"}},
			{"./ledger", []string{"TestNothingServedBeforeDurable", "TestCheckpointsNeverAheadOfDurable"}},
		},
	},
	{
		Name: "checkpoints are signed over the sequencer's head and published before their sync",
		Edits: []edit{
			{"ledger/sequencer.go", "\th := d.head\n\td.release()", "\th := l.head\n\td.release()"},
			{"ledger/sequencer.go", "\tdefault:\n\t\tl.syncq <- &syncing{ckpt:", "\tdefault:\n\t\tl.publishCheckpoint(signed, size)\n\t\tl.syncq <- &syncing{ckpt:"},
		},
		Tests: []testRun{
			{"./ledger", []string{"TestPowerCut", "TestProofsSmallTrees", "TestSignedCheckpointRoot", "TestSequencerConcurrentAppends"}},
			{"./ledger", []string{"TestNothingServedBeforeDurable", "TestCheckpointsNeverAheadOfDurable"}},
		},
	},
	{
		Name:  "reads see a group before its WAL sync returns",
		Edits: []edit{{"ledger/sequencer.go", "\t\tsnap := l.db.NewSnapshot()\n\t\tapplied := time.Now()", "\t\tsnap := l.db.NewSnapshot()\n\t\tl.publish(l.db.NewSnapshot(), g.head)\n\t\tapplied := time.Now()"}},
		Tests: []testRun{
			{"./ledger", []string{"TestPowerCut", "TestProofsSmallTrees", "TestSignedCheckpointRoot", "TestSequencerConcurrentAppends"}},
			{"./ledger", []string{"TestNothingServedBeforeDurable", "TestCheckpointsNeverAheadOfDurable"}},
		},
	},
	{
		Name:  "all institutions share one rate-limit bucket",
		Edits: []edit{{"api/api.go", "h.limit.allow(actor.ID)", `h.limit.allow("")`}},
		Tests: []testRun{{"./api", []string{"TestLimiter", "TestRateLimitHTTP", "TestRateLimitPerInstitution"}}},
	},
	{
		Name: "the limiter keeps one bucket whatever the key",
		Edits: []edit{
			{"api/ratelimit.go", "b := l.buckets[key]", `b := l.buckets[""]`},
			{"api/ratelimit.go", "l.buckets[key] = b", `l.buckets[""] = b`},
		},
		Tests: []testRun{{"./api", []string{"TestLimiter", "TestRateLimitHTTP", "TestRateLimitPerInstitution"}}},
	},
	{
		Name:  "revoking an outcome leaves the conversions that used it in force",
		Edits: []edit{{"accreditation/commands.go", "effects, err := adjustConversions(t, actor, st, reason, supersededBy)", "effects, err := []ItemEffect(nil), error(nil)"}},
		Tests: []testRun{
			{"./accreditation", []string{"TestRulesRevocation", "TestRulesSupersession", "TestRandomJournals"}},
			{"./conformance", []string{"TestVectors"}},
		},
	},
	{
		Name:  "permission table: a learner reads another learner's record",
		Edits: []edit{{"api/handlers.go", "\t\tif a.ID == learner {", "\t\tif a.ID != \"\" {"}},
		Tests: []testRun{{"./api", []string{"TestPermissionTable"}}},
	},
	{
		Name:  "permission table: any token registers an institution",
		Edits: []edit{{"api/api.go", `"/v1/institutions", admin,`, `"/v1/institutions", anyToken,`}},
		Tests: []testRun{{"./api", []string{"TestPermissionTable"}}},
	},
	{
		Name:  "permission table: a regulator adds an institution's key",
		Edits: []edit{{"api/api.go", `"/v1/institutions/{id}/keys", admin,`, `"/v1/institutions/{id}/keys", adminReg,`}},
		Tests: []testRun{{"./api", []string{"TestPermissionTable"}}},
	},
	{
		Name:  "permission table: an institution or a learner reads the conversion audit",
		Edits: []edit{{"api/api.go", `"/v1/audit/conversions", adminReg,`, `"/v1/audit/conversions", anyToken,`}},
		Tests: []testRun{{"./api", []string{"TestPermissionTable"}}},
	},
}
