// Package jsonscan checks and reads JSON text (RFC 8259) in one pass over
// the bytes, without decoding them into Go values: the strict form the API
// accepts for request bodies ([Check], [ObjectHasMember]), the compact
// object every ledger entry's content must be ([CompactObject]), and a
// [Scanner] whose methods read values of a known shape, on which the API's
// outcome decoder is built.
//
// Each function is checked against encoding/json by a fuzz target of this
// package: Check's scan against its token walk and against json.Valid,
// CompactObject against json.Compact, the Scanner's readers against
// json.Unmarshal and json.Compact.
//
// The scanner is written by hand rather than built on encoding/json/v2
// (github.com/go-json-experiment/json v1.27.2, whose jsontext refuses
// repeated names by itself), because v2 is slower at each of these jobs.
// Medians of 8 runs on 2 cores (AMD EPYC), from
// go test -run '^$' -bench 'CheckJSON|OutcomeDecode|OutcomeBatchBody' -benchmem -count 8 ./api
// and go test -run '^$' -bench CompactObject -benchmem -count 8 ./internal/jsonscan:
//
//	job                                   this package             v2
//	check a batch of 1,000 outcomes       1.03 ms, 0 allocs        jsontext tokens: 2.27 ms, 36 allocs
//	decode the batch's 1,000 outcomes     1.69 ms, 14,000 allocs   json.Unmarshal: 4.27 ms, 8,030 allocs
//	the batch as the handler reads it     3.96 ms, 14,010 allocs   8.98 ms, 9,081 allocs
//	check an entry's content (491 bytes)  730 ns, 0 allocs         jsontext.AppendFormat: 1,016 ns, 0 allocs
//
// The batch is 446,904 bytes. Even doing less, v2 is not faster: one
// json.Unmarshal of the whole batch, with no form check and no answer per
// item, took 4.69 ms and 7,043 allocs, and jsontext's Value.IsValid on an
// entry's content, which does not look for white space, 907 ns. The
// comparison benchmarks stay in _test.go files beside ours, so that v2 can
// be measured again once it is the standard library's encoding/json/v2.
package jsonscan
