package bench

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"creditbank/progress"
)

// errStop is what an op returns to end its worker quietly: the writers under
// the transcript reads stop so when the reads end.
var errStop = errors.New("stop")

// load runs op from workers goroutines until count ops are done (count >
// 0) or dur passes, and measures them: op returns how many items it carried.
// The first error stops every worker and is returned; so is parent's error
// when parent ends the load. prog shows the rate under label.
func load(parent context.Context, prog *progress.Display, label string, workers, count int, dur time.Duration, op func(wk int, rnd *rand.Rand) (int, error)) (Side, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		next, items atomic.Int64
		mu          sync.Mutex
		lat         []time.Duration
		firstErr    error
		wg          sync.WaitGroup
	)
	done := prog.Rate(label, count, dur, &items)
	start := time.Now()
	for wk := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(rand.Uint64(), uint64(wk)))
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				if count > 0 {
					if next.Add(1) > int64(count) {
						return
					}
				} else if time.Since(start) >= dur {
					return
				}
				t0 := time.Now()
				n, err := op(wk, rnd)
				if err == errStop {
					return
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				mine = append(mine, time.Since(t0))
				items.Add(int64(n))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	done()
	if firstErr != nil {
		return Side{}, firstErr
	}
	slices.Sort(lat)
	s := Side{Requests: len(lat), Items: int(items.Load()), Seconds: elapsed.Seconds()}
	s.PerSec = float64(s.Items) / elapsed.Seconds()
	s.P50ms, s.P99ms, s.P999ms = percentile(lat, 50), percentile(lat, 99), percentile(lat, 99.9)
	// Interrupted (or, for the writers under transcripts, stopped).
	return s, parent.Err()
}

// percentile is the nearest-rank percentile p (0-100) of sorted, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	k = max(0, min(k, len(sorted)-1))
	return float64(sorted[k]) / float64(time.Millisecond)
}
