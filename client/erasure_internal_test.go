package client

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestParseScores: an answer names every outcome asked for once and
// nothing else, each score a decimal or null.
func TestParseScores(t *testing.T) {
	seqs := []uint64{4, 9}
	tests := []struct {
		name, body string
		want       []Score
		wantErr    string
	}{
		{"good", `{"scores":[{"outcome":9,"score":null,"erased":true},{"outcome":4,"score":"88.5"}]}`,
			[]Score{{Outcome: 4, Score: "88.5"}, {Outcome: 9, Erased: true}}, ""},
		{"no score recorded", `{"scores":[{"outcome":4,"score":null},{"outcome":9,"score":"0"}]}`,
			[]Score{{Outcome: 4}, {Outcome: 9, Score: "0"}}, ""},
		{"one missing", `{"scores":[{"outcome":4,"score":"1"}]}`, nil, "outcome 9 is not answered"},
		{"twice", `{"scores":[{"outcome":4,"score":"1"},{"outcome":4,"score":"1"},{"outcome":9,"score":"1"}]}`, nil, "answered twice"},
		{"one more", `{"scores":[{"outcome":4,"score":"1"},{"outcome":9,"score":"1"},{"outcome":5,"score":"1"}]}`, nil, "3 scores answered for 2"},
		{"no outcome", `{"scores":[{"score":"1"}]}`, nil, "names no outcome"},
		{"a number", `{"scores":[{"outcome":4,"score":88},{"outcome":9,"score":"1"}]}`, nil, "cannot unmarshal"},
		{"three decimals", `{"scores":[{"outcome":4,"score":"8.125"},{"outcome":9,"score":"1"}]}`, nil, "no decimal"},
		{"negative", `{"scores":[{"outcome":4,"score":"-8"},{"outcome":9,"score":"1"}]}`, nil, "no decimal"},
		{"erased with a score", `{"scores":[{"outcome":4,"score":"8","erased":true},{"outcome":9,"score":"1"}]}`, nil, "erased and has a score"},
		{"not JSON", `scores`, nil, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScores([]byte(tt.body), seqs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// encodeScores writes scores as the server answers them.
func encodeScores(scores []Score) []byte {
	type item struct {
		Outcome uint64  `json:"outcome"`
		Score   *string `json:"score"`
		Erased  bool    `json:"erased,omitempty"`
	}
	var ans struct {
		Scores []item `json:"scores"`
	}
	ans.Scores = []item{}
	for _, s := range scores {
		it := item{Outcome: s.Outcome, Erased: s.Erased}
		if s.Score != "" {
			it.Score = &s.Score
		}
		ans.Scores = append(ans.Scores, it)
	}
	b, _ := json.Marshal(ans)
	return b
}

// FuzzParseScores: any answer is read without panicking, and what is read
// re-encodes to an answer read the same.
func FuzzParseScores(f *testing.F) {
	f.Add([]byte(`{"scores":[{"outcome":9,"score":null,"erased":true},{"outcome":4,"score":"88.5"}]}`), uint64(4), uint64(9))
	f.Add([]byte(`{"scores":[{"outcome":1,"score":"0"}]}`), uint64(1), uint64(1))
	f.Add([]byte(`{"scores":[]}`), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, body []byte, a, b uint64) {
		seqs := []uint64{a}
		if b != a {
			seqs = append(seqs, b)
		}
		got, err := parseScores(body, seqs)
		if err != nil {
			return
		}
		again, err := parseScores(encodeScores(got), seqs)
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%s read as %+v, re-encoded read as %+v, %v", body, got, again, err)
		}
	})
}
