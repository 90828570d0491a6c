package conformance

// Test vectors: fixed inputs with the exact outputs the contract requires,
// in JSON files under testdata/, so that another implementation can compare
// its results byte for byte without running this one. The files are written
// by `go test ./conformance -run TestVectors -rewrite` and never by hand;
// testdata/README.md describes each of them.
//
// This file only describes and loads the files: it imports nothing of the
// bank, so the types here are the vectors' own, written in the contract's
// JSON shapes (amounts as decimal strings, hashes as base64 or hex).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

// TreeVectors is tree.json: ledger entries in their canonical bytes and the
// RFC 6962 Merkle tree over them (SHA-256; leaf hash SHA-256(0x00 ‖ bytes),
// node hash SHA-256(0x01 ‖ left ‖ right)), with roots, inclusion proofs and
// consistency proofs as RFC 6962 section 2.1 defines them.
type TreeVectors struct {
	Description string `json:"description"`
	// Entries are the leaves in seq order; entry i has seq i.
	Entries []EntryVector `json:"entries"`
	// Roots gives the root hash of the tree of the first Size entries.
	Roots []RootVector `json:"roots"`
	// Inclusion holds audit paths as GET /v1/log/proof/inclusion returns them.
	Inclusion []InclusionVector `json:"inclusion_proofs"`
	// Consistency holds proofs as GET /v1/log/proof/consistency returns them.
	Consistency []ConsistencyVector `json:"consistency_proofs"`
}

// EntryVector is one ledger entry. Seq, Type, RecordedAt, Actor and Content
// are the inputs; Bytes is the canonical encoding
// {"seq":N,"type":"T","recorded_at":"R","actor":"A","content":{...}} as a
// JSON string (UTF-8, so non-ASCII text appears as itself), BytesBase64 the
// same bytes in standard base64, which is the unambiguous form to compare.
type EntryVector struct {
	Seq        uint64 `json:"seq"`
	Type       string `json:"type"`
	RecordedAt string `json:"recorded_at"`
	Actor      string `json:"actor"`
	// Content is the entry's content, compact JSON exactly as it appears
	// inside Bytes.
	Content     string `json:"content"`
	Bytes       string `json:"bytes"`
	BytesBase64 string `json:"bytes_base64"`
	// LeafHashHex and LeafHashBase64 are SHA-256(0x00 ‖ bytes).
	LeafHashHex    string `json:"leaf_hash_hex"`
	LeafHashBase64 string `json:"leaf_hash_base64"`
}

// Raw returns the entry's bytes decoded from BytesBase64, after checking
// that Bytes holds the same bytes.
func (e EntryVector) Raw() ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(e.BytesBase64)
	if err != nil {
		return nil, fmt.Errorf("entry %d: bytes_base64: %w", e.Seq, err)
	}
	if !bytes.Equal(b, []byte(e.Bytes)) {
		return nil, fmt.Errorf("entry %d: bytes and bytes_base64 differ", e.Seq)
	}
	return b, nil
}

// RootVector is the root hash of the tree of the first Size entries. The
// root of the empty tree is SHA-256 of nothing.
type RootVector struct {
	Size       uint64 `json:"size"`
	RootHex    string `json:"root_hex"`
	RootBase64 string `json:"root_base64"`
}

// InclusionVector is the audit path of entry Index in the tree of Size
// entries: the sibling hashes from the leaf up, base64.
type InclusionVector struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

// ConsistencyVector is the consistency proof from the tree of From entries
// to the tree of To entries, base64. It is empty when From equals To.
type ConsistencyVector struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

// CheckpointVectors is checkpoint.json: signed checkpoints (C2SP
// tlog-checkpoint bodies in C2SP signed notes, Ed25519) over trees of
// tree.json, with the key pair that signed them in the format of
// golang.org/x/mod/sumdb/note.
type CheckpointVectors struct {
	Description string `json:"description"`
	Origin      string `json:"origin"`
	// SigningKey is a TEST key, published so that the file regenerates
	// identically (Ed25519 signatures are deterministic). Never use it
	// for anything else.
	SigningKey string `json:"signing_key"`
	// VerifierKey is "<origin>+<key hash hex>+<base64(0x01 ‖ public key)>",
	// what GET /v1/log/key returns.
	VerifierKey string `json:"verifier_key"`
	// KeyHashHex is the key hash in VerifierKey: the first four bytes of
	// SHA-256(origin ‖ "\n" ‖ 0x01 ‖ public key), big-endian.
	KeyHashHex string `json:"key_hash_hex"`
	// PublicKeyBase64 is the raw 32-byte Ed25519 public key.
	PublicKeyBase64 string             `json:"public_key_base64"`
	Checkpoints     []CheckpointVector `json:"checkpoints"`
}

// CheckpointVector is one signed checkpoint.
type CheckpointVector struct {
	Size       uint64 `json:"size"`
	RootBase64 string `json:"root_base64"`
	// Body is the signed text: origin, size and base64 root, one a line,
	// each ending in a newline.
	Body string `json:"body"`
	// Signature is the base64 of the 4-byte key hash followed by the
	// 64-byte Ed25519 signature of Body.
	Signature string `json:"signature"`
	// Signed is the whole note as GET /v1/log/checkpoint returns it: Body,
	// a blank line, and "— <origin> <Signature>\n".
	Signed string `json:"signed"`
}

// CreditVectors is credits.json: how outcome credits become standard
// credits, and how a ratio applies to them, both rounded half-even to
// hundredths. Every amount is a decimal string in its shortest form ("3",
// "7.5", "0.06").
type CreditVectors struct {
	Description     string                 `json:"description"`
	StandardCredits []StandardCreditVector `json:"standard_credits"`
	RatioApply      []RatioVector          `json:"ratio_apply"`
}

// StandardCreditVector is one outcome's credits and the standard credits the
// bank must record for it: hours / 16 when Hours is given, else Amount ×
// the system's hours per credit / 16, rounded half-even to two decimals;
// "0" when the outcome was not passed. Or, when Refusal is set, the
// problem type the bank must refuse the outcome with instead: invalid for
// hours below 1, credits-hours-mismatch for hours more than a factor of two
// from Amount × the system's hours per credit (docs/contract.md section 8);
// Exact and Expected are then left out.
type StandardCreditVector struct {
	Name   string `json:"name"`
	System string `json:"system"`
	Amount string `json:"amount"`
	Hours  *int64 `json:"hours"`
	Passed bool   `json:"passed"`
	// Exact is the unrounded quotient, for reading; it may have more
	// decimals than an amount may.
	Exact    string `json:"exact,omitempty"`
	Expected string `json:"expected,omitempty"`
	// Refusal is the last segment of the problem type of a refused outcome.
	Refusal string `json:"refusal,omitempty"`
}

// RatioVector is ratio × standard credits rounded half-even to hundredths,
// what a conversion grants for one outcome before the cap.
type RatioVector struct {
	Name            string `json:"name"`
	Ratio           string `json:"ratio"`
	StandardCredits string `json:"standard_credits"`
	Exact           string `json:"exact"`
	Expected        string `json:"expected"`
}

// ConversionVectors is conversions.json: conversions of one learner's
// outcomes under one rule, with what the contract says each gives.
type ConversionVectors struct {
	Description string             `json:"description"`
	Cases       []ConversionVector `json:"cases"`
}

// ConversionVector is one conversion. An engine that decides conversions
// from state it already has uses Rule, Date, Outcomes (with Revoked and
// UsedTowardTarget), AlreadyGranted and Request. A whole bank reaches the
// same state by registering and accrediting every institution named, then
// publishing OtherRules and Rule, posting Outcomes in seq order, making
// EarlierConversions in order, and only then revoking the outcomes marked
// Revoked (which reverses the items of earlier conversions that used them,
// the other items standing); every
// step happens on Date.
type ConversionVector struct {
	Name string `json:"name"`
	// Rule is the rule converted under, in the shape of POST /v1/rules.
	Rule RuleVector `json:"rule"`
	// OtherRules are published before Rule; earlier conversions may use
	// them.
	OtherRules []RuleVector `json:"other_rules"`
	// Date is the conversion date, YYYY-MM-DD (the UTC date of the entry).
	Date    string `json:"date"`
	Learner string `json:"learner"`
	// Outcomes are every outcome of the learner, in seq order. Seqs name
	// outcomes within the case; a bank maps them to the seqs it assigns.
	Outcomes []OutcomeVector `json:"outcomes"`
	// EarlierConversions are made before the one under test.
	EarlierConversions []EarlierConversionVector `json:"earlier_conversions"`
	// AlreadyGranted is what conversions in force under Rule's id (any
	// version) already granted the learner, after the revocations.
	AlreadyGranted string `json:"already_granted"`
	// Request is the "outcomes" of POST /v1/conversions in order, or null
	// to select every outcome of the learner in seq order.
	Request  []uint64          `json:"request"`
	Expected ConversionOutcome `json:"expected"`
}

// RuleVector is a conversion rule in the contract's JSON shape.
type RuleVector struct {
	ID         string           `json:"id"`
	Target     RuleTargetVector `json:"target"`
	Source     RuleSourceVector `json:"source"`
	Ratio      string           `json:"ratio"`
	Cap        *string          `json:"cap"`
	ValidFrom  string           `json:"valid_from"`
	ValidUntil *string          `json:"valid_until"`
}

// RuleTargetVector is the programme a rule grants credit toward.
type RuleTargetVector struct {
	Institution string `json:"institution"`
	Programme   string `json:"programme"`
}

// RuleSourceVector says which outcomes a rule counts. Fields match by
// prefix; an empty Institutions list means any institution.
type RuleSourceVector struct {
	Sectors      []string `json:"sectors"`
	MinLevel     int      `json:"min_level"`
	Fields       []string `json:"fields"`
	MinScore     *string  `json:"min_score"`
	MaxAgeDays   *int     `json:"max_age_days"`
	Institutions []string `json:"institutions"`
}

// OutcomeVector is one outcome of the learner as a conversion sees it.
// StandardCredits is "0" for an outcome not passed. A bank posts it as
// credits {"amount": StandardCredits, "system": "cn-credit"} without hours
// (a cn-credit is one standard credit) — except a failed outcome, which is
// posted with one cn-credit.
type OutcomeVector struct {
	Seq             uint64  `json:"seq"`
	Institution     string  `json:"institution"`
	Sector          string  `json:"sector"`
	Level           int     `json:"level"`
	Field           string  `json:"field"`
	StandardCredits string  `json:"standard_credits"`
	Passed          bool    `json:"passed"`
	Score           *string `json:"score"`
	CompletedOn     string  `json:"completed_on"`
	// Revoked is true when the outcome was revoked.
	Revoked bool `json:"revoked"`
	// UsedTowardTarget is true when a conversion in force used the
	// outcome toward Rule's target programme.
	UsedTowardTarget bool `json:"used_toward_target"`
}

// EarlierConversionVector is a conversion made before the one under test,
// under Rule or one of OtherRules, with what it granted when made.
type EarlierConversionVector struct {
	Rule     string   `json:"rule"`
	Outcomes []uint64 `json:"outcomes"`
	Granted  string   `json:"granted"`
}

// ConversionOutcome is what a conversion gives. Result is "granted" (201)
// or "not_eligible" (422: no outcome could be converted; Items is empty,
// Granted "0", Capped false). NotEligible names, in request order, each
// outcome asked for (or, with no request, of the learner) that was not
// converted, with the first reason that applies.
type ConversionOutcome struct {
	Result      string             `json:"result"`
	Items       []ItemVector       `json:"items"`
	Granted     string             `json:"granted"`
	Capped      bool               `json:"capped"`
	NotEligible []IneligibleVector `json:"not_eligible"`
}

// ItemVector is one outcome a conversion used.
type ItemVector struct {
	Outcome         uint64 `json:"outcome"`
	StandardCredits string `json:"standard_credits"`
	Granted         string `json:"granted"`
}

// IneligibleVector says why an outcome was not converted. Reason is one of
// not_found, duplicate, revoked, failed, already_used, sector, level,
// field, score, not_completed, too_old, institution, no_credits and
// cap_reached.
type IneligibleVector struct {
	Outcome uint64 `json:"outcome"`
	Reason  string `json:"reason"`
}

// LoadTreeVectors reads tree.json.
func LoadTreeVectors(path string) (*TreeVectors, error) {
	return loadVectorFile[TreeVectors](path)
}

// LoadCheckpointVectors reads checkpoint.json.
func LoadCheckpointVectors(path string) (*CheckpointVectors, error) {
	return loadVectorFile[CheckpointVectors](path)
}

// LoadCreditVectors reads credits.json.
func LoadCreditVectors(path string) (*CreditVectors, error) {
	return loadVectorFile[CreditVectors](path)
}

// LoadConversionVectors reads conversions.json.
func LoadConversionVectors(path string) (*ConversionVectors, error) {
	return loadVectorFile[ConversionVectors](path)
}

// loadVectorFile decodes a vector file strictly: an unknown field means the
// file and these types disagree, which should fail loudly.
func loadVectorFile[T any](path string) (*T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read vectors: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode %s: data after the JSON value", path)
	}
	return v, nil
}

// AuditVectors is programme-audits.json: programmes, a learner's outcomes
// and conversions toward them, and the award audit the contract requires
// (docs/contract.md section 9), worked out by hand. The suite plays every
// case against the server it checks (audit/vectors).
type AuditVectors struct {
	Description string        `json:"description"`
	Cases       []AuditVector `json:"cases"`
}

// AuditVector is one audit. A bank gets to its state by publishing
// Programme (its id and institution mapped to its own), posting Outcomes in
// order for one learner, each by its institution (credits in cn-credit,
// no hours), then publishing each conversion's rule (target: the
// programme) and converting the outcomes it names, as an admin; the audit
// is read after that, on any date after the last completion.
type AuditVector struct {
	Name        string                  `json:"name"`
	Programme   ProgrammeVector         `json:"programme"`
	Outcomes    []AuditOutcomeVector    `json:"outcomes"`
	Conversions []AuditConversionVector `json:"conversions"`
	Expected    AuditExpected           `json:"expected"`
}

// ProgrammeVector is a programme in the shape of POST /v1/programmes.
type ProgrammeVector struct {
	ID                string              `json:"id"`
	Institution       string              `json:"institution"`
	Title             string              `json:"title"`
	Total             string              `json:"total"`
	Requirements      []RequirementVector `json:"requirements"`
	MinLevel          int                 `json:"min_level"`
	MaxConvertedShare *string             `json:"max_converted_share"`
	MaxPerInstitution *string             `json:"max_per_institution"`
	PeriodCaps        PeriodCapsVector    `json:"period_caps"`
	ValidFrom         string              `json:"valid_from"`
	ValidUntil        *string             `json:"valid_until"`
}

// RequirementVector is one requirement of a programme.
type RequirementVector struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
	Min    string   `json:"min"`
}

// PeriodCapsVector are a programme's term and year caps; null: none.
type PeriodCapsVector struct {
	Term *string `json:"term"`
	Year *string `json:"year"`
}

// AuditOutcomeVector is one outcome of the learner. Ref names it within
// the case; a bank maps it to the seq it assigns.
type AuditOutcomeVector struct {
	Ref         int    `json:"ref"`
	Institution string `json:"institution"`
	Sector      string `json:"sector"`
	Unit        string `json:"unit"`
	Level       int    `json:"level"`
	Field       string `json:"field"`
	Credits     string `json:"credits"`
	CompletedOn string `json:"completed_on"`
}

// AuditConversionVector is a conversion under Rule (its target the
// programme) of the outcomes Outcomes names by ref.
type AuditConversionVector struct {
	Rule     RuleVector `json:"rule"`
	Outcomes []int      `json:"outcomes"`
}

// AuditExpected is the audit, each outcome named by its ref and a
// conversion item by its source outcome.
type AuditExpected struct {
	Total        AuditTotalVector         `json:"total"`
	Converted    string                   `json:"converted"`
	Requirements []AuditRequirementVector `json:"requirements"`
	Other        []AuditItemVector        `json:"other"`
	NotCounted   []AuditItemVector        `json:"not_counted"`
	Limits       []AuditLimitVector       `json:"limits"`
	Eligible     bool                     `json:"eligible"`
	Missing      []AuditShortfallVector   `json:"missing"`
}

// AuditTotalVector is what counts toward the total.
type AuditTotalVector struct {
	Earned   string `json:"earned"`
	Required string `json:"required"`
	Met      bool   `json:"met"`
}

// AuditRequirementVector is one requirement's line of the audit.
type AuditRequirementVector struct {
	ID       string            `json:"id"`
	Earned   string            `json:"earned"`
	Required string            `json:"required"`
	Met      bool              `json:"met"`
	Items    []AuditItemVector `json:"items"`
}

// AuditItemVector is one item: its outcome's ref, its source, its amount,
// and what it counts (counted items) or why not (reason, and of: the ref
// of the outcome counting in its place).
type AuditItemVector struct {
	Outcome int    `json:"outcome"`
	Source  string `json:"source"`
	Amount  string `json:"amount"`
	Counted string `json:"counted,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Of      int    `json:"of,omitempty"`
}

// AuditLimitVector is a term or year whose cap bound what counts.
type AuditLimitVector struct {
	Cap     string `json:"cap"`
	Period  string `json:"period"`
	Limit   string `json:"limit"`
	Offered string `json:"offered"`
	Counted string `json:"counted"`
}

// AuditShortfallVector is one thing missing, without its words.
type AuditShortfallVector struct {
	Kind         string   `json:"kind"`
	Requirements []string `json:"requirements,omitempty"`
	Required     string   `json:"required"`
	Earned       string   `json:"earned"`
	Short        string   `json:"short"`
}

// LoadAuditVectors reads programme-audits.json.
func LoadAuditVectors(path string) (*AuditVectors, error) {
	return loadVectorFile[AuditVectors](path)
}
