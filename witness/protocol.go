package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// The add-checkpoint exchange of C2SP tlog-witness: what is sent, and the
// parsers of what comes back, which is outside input.

// maxProofLines is the most consistency proof lines a request may carry.
const maxProofLines = 63

// requestBody is the body of an add-checkpoint request: the old size line,
// the consistency proof from it, a blank line and the signed checkpoint.
func requestBody(old uint64, proof []tlog.Hash, signed []byte) ([]byte, error) {
	if len(proof) > maxProofLines {
		return nil, fmt.Errorf("a consistency proof of %d hashes, more than %d", len(proof), maxProofLines)
	}
	var b bytes.Buffer
	b.WriteString("old " + strconv.FormatUint(old, 10) + "\n")
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes(), nil
}

// maxResponse bounds what is read of a witness's answer: a few signature
// lines, or a size.
const maxResponse = 64 << 10

// ParseSize parses the body of a 409 answer: the size of the latest
// checkpoint the witness cosigned for the log, in decimal without leading
// zeros, and a newline.
func ParseSize(b []byte) (uint64, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return 0, errors.New("witness size: no final newline")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s || n > 1<<63-1 {
		return 0, fmt.Errorf("witness size: %q is not a decimal size", s)
	}
	return n, nil
}

// ParseSignatureLines parses the body of a 200 answer: one or more note
// signature lines, each "— <name> <base64>" and a newline. It checks their
// form only; which of them are the witness's cosignatures, and whether
// they verify, is for note.Open with the witness's key.
func ParseSignatureLines(b []byte) ([]string, error) {
	s, ok := strings.CutSuffix(string(b), "\n")
	if !ok || s == "" {
		return nil, errors.New("witness answer: no signature lines")
	}
	lines := strings.Split(s, "\n")
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "— ")
		name, sig, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || !validName(name) {
			return nil, fmt.Errorf("witness answer: %q is not a signature line", l)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("witness answer: %q has no base64 key hash and signature", l)
		}
	}
	return lines, nil
}
