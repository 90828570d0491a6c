package accreditation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The accreditation policy (docs/accreditation-policy.md): which sectors
// each kind of institution may be accredited for, and up to which framework
// level. It is data, kept in policy/kinds.json and built into the binary,
// so that a change to it is a reviewed change to the repository. It judges
// new accreditations only: one granted before the table changed stands, and
// a replay applies accreditation entries without judging them again.

//go:embed policy/kinds.json
var policyJSON []byte

// accreditationPolicy maps kind → sector → the highest level an
// accreditation may name; a sector that is not listed may not be named.
var accreditationPolicy = mustParsePolicy(policyJSON)

// parsePolicy reads the policy file strictly: every kind of institution
// the contract names, nothing else, known sectors, levels 1 to 10.
func parsePolicy(data []byte) (map[string]map[string]int, error) {
	var file struct {
		About string                    `json:"about"`
		Kinds map[string]map[string]int `json:"kinds"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("accreditation policy: %w", err)
	}
	for _, kind := range institutionKinds {
		if file.Kinds[kind] == nil {
			return nil, fmt.Errorf("accreditation policy: no row for kind %q", kind)
		}
	}
	for kind, row := range file.Kinds {
		if !slices.Contains(institutionKinds, kind) {
			return nil, fmt.Errorf("accreditation policy: unknown kind %q", kind)
		}
		for sector, level := range row {
			if !ValidSector(sector) || level < 1 || level > 10 {
				return nil, fmt.Errorf("accreditation policy: kind %q: sector %q up to level %d", kind, sector, level)
			}
		}
	}
	return file.Kinds, nil
}

func mustParsePolicy(data []byte) map[string]map[string]int {
	p, err := parsePolicy(data)
	if err != nil {
		panic(err) // the file is built in; TestAccreditationPolicyTable reads it
	}
	return p
}

// PolicyMaxLevel returns the highest level an institution of kind may be
// accredited for in sector under the policy table, 0 when it may not be
// accredited for the sector at all.
func PolicyMaxLevel(kind, sector string) int { return accreditationPolicy[kind][sector] }

// policyRefusal says what of scope the policy table does not allow an
// institution of kind, or "" when it allows all of it.
func policyRefusal(kind string, scope AccreditationInput) string {
	row := accreditationPolicy[kind]
	var out []string
	for _, sector := range scope.Sectors {
		switch max := row[sector]; {
		case max == 0:
			out = append(out, fmt.Sprintf("not for %s outcomes", sector))
		case scope.MaxLevel > max:
			out = append(out, fmt.Sprintf("for %s outcomes up to level %d, not %d", sector, max, scope.MaxLevel))
		}
	}
	if len(out) == 0 {
		return ""
	}
	allowed := slices.Sorted(maps.Keys(row))
	return fmt.Sprintf("the accreditation policy accredits a %s %s (it allows %s)", kind, strings.Join(out, ", "), strings.Join(allowed, ", "))
}
