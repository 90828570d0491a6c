package api

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkOutcomeBatchBody reads a term's batch of a thousand outcomes as
// postOutcomes does: the JSON check, the items, then each outcome.
func BenchmarkOutcomeBatchBody(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"outcomes":[`)
	for i := range 1000 {
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
	body := []byte(sb.String())
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
