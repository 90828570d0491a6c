package credential

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// JSON-LD contexts, in the order the 1EdTech schemas require.
const (
	ContextVC  = "https://www.w3.org/ns/credentials/v2"
	ContextOB  = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
	ContextCLR = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
	// The schemas a credential names in credentialSchema, as published.
	SchemaOB  = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
	SchemaCLR = "https://purl.imsglobal.org/spec/clr/v2p0/schema/json/clr_v2p0_clrcredential_schema.json"
)

// Kinds of credential.
const (
	KindOutcome    = "outcome"
	KindTranscript = "transcript"
	KindAward      = "award"
)

// Frameworks an achievement is aligned to.
const (
	fieldFramework = "ISCED-F 2013"
	fieldURL       = "https://uis.unesco.org/en/topic/international-standard-classification-education-isced"
	levelFramework = "Chinese learning-outcomes framework (levels 1 to 10)"
)

// Institution names the institution that certified an outcome or confers
// a programme: the achievement's creator.
type Institution struct {
	ID   string
	Name string
}

// Entry names a ledger entry a credential rests on: its seq, type and
// RFC 6962 leaf hash (of the entry's stored bytes, standard base64).
type Entry struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	LeafHash string `json:"leafHash"`
}

// NewEntry names entry seq of type typ with leaf hash h.
func NewEntry(seq uint64, typ string, h [32]byte) Entry {
	return Entry{Seq: seq, Type: typ, LeafHash: base64.StdEncoding.EncodeToString(h[:])}
}

// Outcome is one outcome as the learner's key opens it.
type Outcome struct {
	Entry       Entry
	Institution Institution
	UnitCode    string
	UnitTitle   string
	Sector      string
	Level       int
	// Field is the ISCED-F code and FieldName its name.
	Field     string
	FieldName string
	// Credits and StandardCredits are decimals as the bank writes them.
	Credits         string
	CreditSystem    string
	StandardCredits string
	Passed          bool
	// Score is "" when the outcome records none.
	Score       string
	CompletedOn string
}

// Award is a programme a learner was awarded.
type Award struct {
	Entry       Entry
	Institution Institution
	Programme   string
	Version     int
	Title       string
	// Earned and Required are standard credits.
	Earned   string
	Required string
	On       string
}

// Request is what a credential states: its kind, the learner, what it is
// of, and its place in a status list.
type Request struct {
	Kind string
	// ID is the credential's id, a urn:uuid chosen by the bank.
	ID      string
	Learner string
	// Outcomes for kinds outcome (one) and transcript; Award for award.
	Outcomes []Outcome
	Award    *Award
	// Partial marks a transcript of selected outcomes.
	Partial bool
	List    string
	Index   uint64
	// Issued is the credential.issued entry.
	Issued   Entry
	IssuedAt time.Time
}

// Issuer signs credentials as the bank: Base is the service's public URL
// (the issuer's id and the JWT's iss), Name the bank's name, Origin the
// ledger's checkpoint origin.
type Issuer struct {
	Key    Key
	Base   string
	Name   string
	Origin string
}

// Record is the member of every credential that names the ledger entries
// it rests on and where a verifier proves them: an inclusion proof of each
// leaf hash from the proof endpoint, against the signed checkpoint.
type Record struct {
	Origin     string  `json:"origin"`
	Checkpoint string  `json:"checkpoint"`
	Proof      string  `json:"proof"`
	Entries    []Entry `json:"entries"`
}

// Issue builds the credential req states and signs it. It returns the
// VC-JWT and its claims set.
func (is *Issuer) Issue(req Request) (string, []byte, error) {
	var c map[string]any
	switch req.Kind {
	case KindOutcome:
		if len(req.Outcomes) != 1 {
			return "", nil, errors.New("an outcome credential is of one outcome")
		}
		c = is.achievementCredential(req, is.outcomeAchievement(req.Outcomes[0]), outcomeSubject(req.Outcomes[0]))
	case KindAward:
		if req.Award == nil {
			return "", nil, errors.New("an award credential needs its award")
		}
		c = is.achievementCredential(req, is.awardAchievement(*req.Award), awardSubject(*req.Award))
	case KindTranscript:
		if len(req.Outcomes) == 0 {
			return "", nil, errors.New("a transcript credential needs an outcome")
		}
		c = is.clrCredential(req)
	default:
		return "", nil, fmt.Errorf("unknown kind %q", req.Kind)
	}
	entries := []Entry{}
	for _, o := range req.Outcomes {
		entries = append(entries, o.Entry)
	}
	if req.Award != nil {
		entries = append(entries, req.Award.Entry)
	}
	entries = append(entries, req.Issued)
	c["credentialStatus"] = statusEntry(is.Base, req.List, req.Index)
	c["ledgerRecord"] = Record{Origin: is.Origin, Checkpoint: is.Base + "/v1/log/checkpoint",
		Proof: is.Base + "/v1/log/proof/inclusion?index={seq}&size={checkpoint size}", Entries: entries}
	// JWT claims beside the credential (VC-JOSE-COSE allows them): iss is
	// the issuer's id, jti the credential's, sub the learner's.
	c["iss"] = is.Base
	c["jti"] = req.ID
	c["sub"] = is.learnerURL(req.Learner)
	c["iat"] = req.IssuedAt.Unix()
	c["nbf"] = req.IssuedAt.Unix()
	b, err := json.Marshal(c)
	if err != nil {
		return "", nil, err
	}
	return Sign(is.Key, b), b, nil
}

func (is *Issuer) learnerURL(id string) string {
	return is.Base + "/v1/learners/" + url.PathEscape(id)
}

// profile is the bank as issuer.
func (is *Issuer) profile() map[string]any {
	return map[string]any{"id": is.Base, "type": []string{"Profile"}, "name": is.Name, "url": is.Base}
}

func (is *Issuer) creator(in Institution) map[string]any {
	return map[string]any{"id": is.Base + "/v1/institutions/" + url.PathEscape(in.ID), "type": []string{"Profile"}, "name": in.Name}
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// dateTime is a date as the start of its day in UTC.
func dateTime(date string) string { return date + "T00:00:00Z" }

// number is a decimal amount as a JSON number (creditsAvailable is a
// Float in the schema); the exact text is kept in the achievement's tags.
func number(s string) json.Number {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "0"
	}
	return json.Number(s)
}

func (is *Issuer) outcomeAchievement(o Outcome) map[string]any {
	id := fmt.Sprintf("%s/v1/institutions/%s/units/%s", is.Base, url.PathEscape(o.Institution.ID), url.PathEscape(o.UnitCode))
	a := map[string]any{
		"id": id, "type": []string{"Achievement"}, "achievementType": "Course",
		"name": o.UnitTitle, "humanCode": o.UnitCode,
		"description": fmt.Sprintf("%s (%s): %s %s credits (%s standard credits), level %d, field %s %s, %s sector, certified by %s.",
			o.UnitTitle, o.UnitCode, o.Credits, o.CreditSystem, o.StandardCredits, o.Level, o.Field, o.FieldName, o.Sector, o.Institution.Name),
		"criteria":         map[string]any{"narrative": fmt.Sprintf("Completed and assessed by %s on %s.", o.Institution.Name, o.CompletedOn)},
		"creator":          is.creator(o.Institution),
		"creditsAvailable": number(o.Credits),
		"fieldOfStudy":     o.FieldName,
		"alignment": []map[string]any{
			{"type": []string{"Alignment"}, "targetName": fmt.Sprintf("%s %s", o.Field, o.FieldName), "targetCode": o.Field,
				"targetFramework": fieldFramework, "targetUrl": fieldURL},
			{"type": []string{"Alignment"}, "targetName": fmt.Sprintf("Level %d", o.Level), "targetCode": strconv.Itoa(o.Level),
				"targetFramework": levelFramework, "targetUrl": is.Base + "/openapi.json"},
		},
		"tag": []string{"credit-system:" + o.CreditSystem, "credits:" + o.Credits, "standard-credits:" + o.StandardCredits,
			"level:" + strconv.Itoa(o.Level), "field:" + o.Field, "sector:" + o.Sector},
		"resultDescription": []map[string]any{
			{"id": id + "#status", "type": []string{"ResultDescription"}, "name": "Passed", "resultType": "Status"},
			{"id": id + "#score", "type": []string{"ResultDescription"}, "name": "Score", "resultType": "RawScore"},
		},
	}
	return a
}

func outcomeSubject(o Outcome) map[string]any {
	status := "Failed"
	if o.Passed {
		status = "Completed"
	}
	results := []map[string]any{{"type": []string{"Result"}, "status": status}}
	if o.Score != "" {
		results = append(results, map[string]any{"type": []string{"Result"}, "value": o.Score})
	}
	s := map[string]any{"type": []string{"AchievementSubject"}, "activityEndDate": dateTime(o.CompletedOn), "result": results}
	if o.Passed {
		s["creditsEarned"] = number(o.Credits)
	} else {
		s["creditsEarned"] = json.Number("0")
	}
	return s
}

func (is *Issuer) awardAchievement(a Award) map[string]any {
	id := fmt.Sprintf("%s/v1/programmes/%s?version=%d", is.Base, url.PathEscape(a.Programme), a.Version)
	return map[string]any{
		"id": id, "type": []string{"Achievement"}, "achievementType": "LearningProgram",
		"name": a.Title, "humanCode": a.Programme,
		"description":      fmt.Sprintf("%s (programme %s version %d) of %s: %s of %s standard credits.", a.Title, a.Programme, a.Version, a.Institution.Name, a.Earned, a.Required),
		"criteria":         map[string]any{"narrative": fmt.Sprintf("Awarded on %s when the award audit found every requirement of programme %s version %d met.", a.On, a.Programme, a.Version)},
		"creator":          is.creator(a.Institution),
		"creditsAvailable": number(a.Required),
		"version":          strconv.Itoa(a.Version),
		"tag":              []string{"standard-credits:" + a.Earned},
	}
}

func awardSubject(a Award) map[string]any {
	return map[string]any{"type": []string{"AchievementSubject"}, "activityEndDate": dateTime(a.On), "creditsEarned": number(a.Earned),
		"result": []map[string]any{{"type": []string{"Result"}, "status": "Completed"}}}
}

// achievementCredential is an OB 3.0 AchievementCredential of achievement
// to the learner, without credentialStatus (a transcript's embedded ones
// rest on the transcript's).
func (is *Issuer) achievementCredential(req Request, achievement, subject map[string]any) map[string]any {
	subject["id"] = is.learnerURL(req.Learner)
	subject["achievement"] = achievement
	// Each result points at the achievement's description of it.
	if results, ok := subject["result"].([]map[string]any); ok {
		if aid, ok := achievement["id"].(string); ok && achievement["resultDescription"] != nil {
			for _, r := range results {
				if _, ok := r["status"]; ok {
					r["resultDescription"] = aid + "#status"
				} else {
					r["resultDescription"] = aid + "#score"
				}
			}
		}
	}
	name, _ := achievement["name"].(string)
	return map[string]any{
		"@context": []string{ContextVC, ContextOB},
		"id":       req.ID, "type": []string{"VerifiableCredential", "AchievementCredential"},
		"name": name, "issuer": is.profile(),
		"validFrom": timeText(req.IssuedAt), "awardedDate": timeText(req.IssuedAt),
		"credentialSubject": subject,
		"credentialSchema":  []map[string]any{{"id": SchemaOB, "type": "1EdTechJsonSchemaValidator2019"}},
	}
}

// clrCredential is a CLR 2.0 ClrCredential of the outcomes: each one an
// embedded AchievementCredential, secured by the CLR's own signature and
// status rather than each by its own.
func (is *Issuer) clrCredential(req Request) map[string]any {
	vcs := make([]map[string]any, 0, len(req.Outcomes))
	achievements := make([]map[string]any, 0, len(req.Outcomes))
	for _, o := range req.Outcomes {
		a := is.outcomeAchievement(o)
		sub := req
		sub.ID = fmt.Sprintf("%s#outcome-%d", req.ID, o.Entry.Seq)
		vcs = append(vcs, is.achievementCredential(sub, a, outcomeSubject(o)))
		achievements = append(achievements, a)
	}
	return map[string]any{
		"@context": []string{ContextVC, ContextCLR, ContextOB},
		"id":       req.ID, "type": []string{"VerifiableCredential", "ClrCredential"},
		"name": "Credit bank transcript", "description": fmt.Sprintf("%d learning outcomes held in the credit bank's ledger.", len(req.Outcomes)),
		"partial": req.Partial,
		"issuer":  is.profile(), "validFrom": timeText(req.IssuedAt), "awardedDate": timeText(req.IssuedAt),
		"credentialSubject": map[string]any{
			"id": is.learnerURL(req.Learner), "type": []string{"ClrSubject"},
			"verifiableCredential": vcs, "achievement": achievements,
		},
		"credentialSchema": []map[string]any{{"id": SchemaCLR, "type": "1EdTechJsonSchemaValidator2019"}},
	}
}
