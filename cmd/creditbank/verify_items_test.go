package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyItemChanges audits, from a stopped server's data folder, a
// ledger that uses the entries of docs/contract.md section 8: conversion
// items moved by a correction and reversed by a revocation
// (conversion.adjusted), a group of equivalent units
// (equivalence.published) and conversions decided under it.
func TestVerifyItemChanges(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := runServer(t, bin, data)
	b := newBank(t, bin, data, srv.url)
	b.post(b.reg, "/v1/equivalences", `{"id":"intro-cs","units":[{"institution":"college.example","code":"CS101-V1-a"},
		{"institution":"college.example","code":"CS101-V1-c"}],"valid_from":"2020-01-01","valid_until":null}`)
	a, err := b.outcome("V1", "V1-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.outcome("V1", "V1-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.outcome("V1", "V1-c"); err != nil { // equivalent to V1-a: does not count
		t.Fatal(err)
	}
	b.post(b.admin, "/v1/conversions", `{"learner":"V1","rule":"nd-cs-to-bsc"}`)
	done := b.today.AddDate(0, 0, -30).Format("2006-01-02")
	fixed := b.post(b.college, "/v1/outcomes", fmt.Sprintf(`{"idempotency_key":"V1-a-fix","learner":"V1",
		"unit":{"code":"CS101-V1-a","title":"Introduction to Programming"},"sector":"non_degree","level":6,"field":"0613",
		"credits":{"amount":"4","system":"cn-credit"},"hours":64,"result":{"passed":true,"score":"90"},
		"completed_on":"%s","supersedes":%d}`, done, a))
	b.post(b.college, fmt.Sprintf("/v1/outcomes/%d/revocation", fixed), `{"reason":"entered in error"}`)
	srv.stop(t)

	r := runCmd(t, bin, nil, "verify", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "conversions re-run:      1\n") ||
		!strings.Contains(r.stdout, "item changes re-run:     2\n") || !strings.HasSuffix(r.stdout, "OK\n") {
		t.Fatalf("verify --data: %s", r)
	}
}
