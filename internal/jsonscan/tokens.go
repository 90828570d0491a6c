package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// checkTokens is Check by encoding/json's tokens: slower than the scan, but
// its errors say what is wrong and where.
func checkTokens(data []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, 0, maxDepth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func checkValue(dec *json.Decoder, depth, maxDepth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxDepth)
	}
	seen := map[string]bool{}
	for dec.More() {
		if delim == '{' {
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %v", err)
			}
			name, _ := t.(string)
			if strings.ToLower(name) != name {
				return fmt.Errorf("member %q: member names are lower case", name)
			}
			if seen[name] {
				return fmt.Errorf("member %q appears twice", name)
			}
			seen[name] = true
		}
		if err := checkValue(dec, depth+1, maxDepth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	return nil
}
