package jsonscan

import (
	"bytes"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// entryContent is an outcome as a ledger entry's content holds it.
var entryContent = []byte(`{"institution":"uni.example","idempotency_key":"term-2026-17","learner":"L0134623",` +
	`"unit":{"code":"DB210-2024","title":"Design, implement and test a relational database schema with transactions, indexes and constraints"},` +
	`"sector":"vocational","level":5,"field":"0612","credits":{"amount":"3.5","system":"ects"},"hours":96,` +
	`"result":{"passed":true,"score":"86"},"completed_on":"2026-07-01",` +
	`"evidence_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","supersedes":null}`)

// BenchmarkCompactObject compares CompactObject, on an entry's content,
// with github.com/go-json-experiment/json's jsontext (encoding/json/v2):
// "jsontext" formats the content compactly, keeping strings and names as
// they are, and compares; "jsontext-valid" only checks that it is valid,
// less than CompactObject does.
func BenchmarkCompactObject(b *testing.B) {
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(entryContent)))
		for b.Loop() {
			if !CompactObject(entryContent) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("jsontext", func(b *testing.B) {
		b.SetBytes(int64(len(entryContent)))
		var buf []byte
		for b.Loop() {
			var err error
			buf, err = jsontext.AppendFormat(buf[:0], entryContent,
				jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true), jsontext.PreserveRawStrings(true))
			if err != nil || entryContent[0] != '{' || !bytes.Equal(buf, entryContent) {
				b.Fatal("refused", err)
			}
		}
	})
	b.Run("jsontext-valid", func(b *testing.B) {
		b.SetBytes(int64(len(entryContent)))
		for b.Loop() {
			if !jsontext.Value(entryContent).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
				b.Fatal("refused")
			}
		}
	})
}
