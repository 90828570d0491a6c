package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// outcomeBatch is a term's batch body of n outcomes, as an institution's
// registry sends it.
func outcomeBatch(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"outcomes":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"idempotency_key":"term-2026-%d","learner":"L%07d","unit":{"code":"DB210-2024",`+
			`"title":"Design, implement and test a relational database schema with transactions, indexes and constraints"},`+
			`"sector":"vocational","level":5,"field":"0612","credits":{"amount":"3.5","system":"ects"},"hours":96,`+
			`"result":{"passed":true,"score":"86"},"completed_on":"2026-07-01",`+
			`"evidence_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`, i, i*7919%100000)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// BenchmarkOutcomeBatchBody reads a term's batch of a thousand outcomes as
// postOutcomes does: the JSON check, the items, then each outcome.
func BenchmarkOutcomeBatchBody(b *testing.B) {
	body := outcomeBatch(1000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkJSON(body); err != nil {
			b.Fatal(err)
		}
		items, ok := outcomeItems(body)
		if !ok || len(items) != 1000 {
			b.Fatal("items")
		}
		for _, it := range items {
			if _, err := decodeOutcomeBody(it); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkOutcomeBatchBodyJSONv2 reads the same batch with
// github.com/go-json-experiment/json (encoding/json/v2), to compare with
// BenchmarkOutcomeBatchBody: "items" as the handler reads it (the check by
// jsontext's tokens, the items by jsontext, each outcome by json.Unmarshal
// refusing unknown members), "whole" with one json.Unmarshal of the batch
// and no check at all, the least v2 can do.
func BenchmarkOutcomeBatchBodyJSONv2(b *testing.B) {
	body := outcomeBatch(1000)
	items, _ := outcomeItems(body)
	want, _ := decodeOutcome(items[1])
	var got outcomeBody
	if err := jsonv2.Unmarshal(items[1], &got, jsonv2.RejectUnknownMembers(true)); err != nil || !reflect.DeepEqual(got.OutcomeInput, want) {
		b.Fatalf("json v2 reads %+v, %v; want %+v", got.OutcomeInput, err, want)
	}
	b.Run("items", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := checkJSONv2(body); err != nil {
				b.Fatal(err)
			}
			var batch struct {
				Outcomes []jsontext.Value `json:"outcomes"`
			}
			if err := jsonv2.Unmarshal(body, &batch, jsonv2.RejectUnknownMembers(true)); err != nil || len(batch.Outcomes) != 1000 {
				b.Fatal("items", err)
			}
			for _, it := range batch.Outcomes {
				var o outcomeBody
				if err := jsonv2.Unmarshal(it, &o, jsonv2.RejectUnknownMembers(true)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var batch struct {
				Outcomes []outcomeBody `json:"outcomes"`
			}
			if err := jsonv2.Unmarshal(body, &batch, jsonv2.RejectUnknownMembers(true)); err != nil || len(batch.Outcomes) != 1000 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutcomeDecode compares, on the batch's thousand items, the
// decoding of each outcome alone: decodeOutcomeBody, and json.Unmarshal of
// encoding/json/v2 refusing unknown members.
func BenchmarkOutcomeDecode(b *testing.B) {
	body := outcomeBatch(1000)
	items, _ := outcomeItems(body)
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			for _, it := range items {
				if _, err := decodeOutcomeBody(it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("jsonv2", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			for _, it := range items {
				var o outcomeBody
				if err := jsonv2.Unmarshal(it, &o, jsonv2.RejectUnknownMembers(true)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkCheckJSON compares checkJSON, on the batch body, with the same
// check by jsontext's tokens.
func BenchmarkCheckJSON(b *testing.B) {
	body := outcomeBatch(1000)
	for _, bm := range []struct {
		name  string
		check func([]byte) error
	}{{"jsonscan", checkJSON}, {"jsontext", checkJSONv2}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := bm.check(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// checkJSONv2 is checkJSON by jsontext's tokens, which refuse repeated
// member names and invalid UTF-8 themselves. Names are read as raw values,
// which reading them as tokens would copy into strings.
func checkJSONv2(data []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for {
		depth := dec.StackDepth()
		if kind, n := dec.StackIndex(depth); kind == '{' && n%2 == 0 && dec.PeekKind() == '"' {
			name, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if !lowerName(name) {
				return fmt.Errorf("member %s: member names are lower case", name)
			}
			continue
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if dec.StackDepth() > maxJSONDepth {
			return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
		}
		if dec.StackDepth() == 0 && tok.Kind() != '{' && tok.Kind() != '[' {
			break // the value is complete
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// lowerName reports whether a quoted member name is in lower case.
func lowerName(quoted jsontext.Value) bool {
	for _, c := range quoted {
		switch {
		case c >= 'A' && c <= 'Z':
			return false
		case c == '\\' || c >= 0x80:
			var name string
			if jsonv2.Unmarshal(quoted, &name) != nil {
				return false
			}
			return strings.ToLower(name) == name
		}
	}
	return true
}
