package accreditation

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPostOutcomes1000 posts batches of 1,000 new outcomes through a
// real bank on Pebble: the write path of a term's batch, each outcome
// checked against the state (idempotency, accreditation, duplicates) and
// recorded with its state in one synced write. Besides the wall time it
// reports the process's CPU time (user and system, every goroutine's,
// Pebble's included) per batch, cpu-ms/op, which leaves out the time spent
// waiting for a core on a machine shared with other work.
//
//	go test ./accreditation -run '^$' -bench PostOutcomes1000 -benchtime 40x -count 5
func BenchmarkPostOutcomes1000(b *testing.B) {
	ctx := context.Background()
	bank := newTestBank(b)
	inst := bank.institution(b, "college.example")
	const n = 1000
	batch := make([]OutcomeInput, n)
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range batch {
			o := outcome(fmt.Sprintf("L%05d", j%500), fmt.Sprintf("b%d-%d", i, j))
			o.Unit.Code = fmt.Sprintf("U%d-%d", i, j/500)
			batch[j] = o
		}
		b.StartTimer()
		start := processCPU(b)
		res, err := bank.PostOutcomes(ctx, inst, batch)
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
		for _, r := range res {
			if r.Status != PostCreated {
				b.Fatalf("%s %v", r.Status, r.Err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "outcomes/s")
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPostOutcomes1000Singly posts 1,000 new outcomes one request at
// a time: the write path of an institution posting as results come in,
// where what deciding reads once per request weighs on every outcome.
//
//	go test ./accreditation -run '^$' -bench PostOutcomes1000Singly -benchtime 40x -count 5
func BenchmarkPostOutcomes1000Singly(b *testing.B) {
	ctx := context.Background()
	bank := newTestBank(b)
	inst := bank.institution(b, "college.example")
	const n = 1000
	b.ResetTimer()
	for i := range b.N {
		for j := range n {
			o := outcome(fmt.Sprintf("L%05d", j%500), fmt.Sprintf("s%d-%d", i, j))
			o.Unit.Code = fmt.Sprintf("U%d-%d", i, j/500)
			res, err := bank.PostOutcomes(ctx, inst, []OutcomeInput{o})
			if err != nil {
				b.Fatal(err)
			}
			if res[0].Status != PostCreated {
				b.Fatalf("%s %v", res[0].Status, res[0].Err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "outcomes/s")
}
