package conformance

import "net/http"

// The accreditation policy (docs/contract.md section 8,
// docs/accreditation-policy.md): what each kind of institution may be
// accredited for, and the recorded override.

// allSectors are the sectors of the mission.
var allSectors = []string{"degree", "non_degree", "vocational", "community", "elderly", "workplace", "certificate"}

// accreditBody is an accreditation body for 2020 to 2099.
func accreditBody(level int, sectors ...string) map[string]any {
	return map[string]any{"sectors": sectors, "max_level": level, "valid_from": "2020-01-01", "valid_until": "2099-12-31"}
}

// outsidePolicy asks to accredit a new institution of kind beyond the
// policy table: 422 accreditation-policy, nothing written.
func outsidePolicy(name, kind string, body map[string]any) caseDef {
	return caseDef{"policy/" + name, func(c *tc) {
		in := c.register("policy", kind)
		c.refused(func() {
			p := c.wantProblem(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.regulator(), body), http.StatusUnprocessableEntity)
			c.wantType(p, "accreditation-policy")
		})
	}}
}

func policyCases() []caseDef {
	return []caseDef{
		outsidePolicy("community-school-no-degree", "community_school", accreditBody(5, "degree")),
		outsidePolicy("community-school-above-level-5", "community_school", accreditBody(6, "community")),
		outsidePolicy("cultural-venue-no-vocational", "cultural_venue", accreditBody(3, "community", "vocational")),
		{"policy/within-the-table", func(c *tc) {
			for kind, body := range map[string]map[string]any{
				"community_school": accreditBody(5, "community", "elderly", "non_degree"),
				"university":       accreditBody(10, allSectors...),
			} {
				in := c.register("policy-ok", kind)
				c.want(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.admin(), body), http.StatusCreated)
			}
		}},
		{"policy/override-recorded", func(c *tc) {
			in := c.register("override", "community_school")
			body := accreditBody(6, "degree")
			body["override_reason"] = "pilot with the county open university"
			got := c.obj(c.want(c.do("POST", "/v1/institutions/"+in.id+"/accreditations", c.regulator(), body), http.StatusCreated))
			if got["override_reason"] != body["override_reason"] {
				c.fatalf("an accreditation with an override answered %s", compact(got))
			}
			seq := c.num(got, "seq")
			entry := c.obj(c.want(c.do("GET", "/v1/log/entries/"+itoa(seq), c.admin(), nil), http.StatusOK))
			if content, _ := entry["content"].(map[string]any); content["override_reason"] != body["override_reason"] {
				c.fatalf("the accreditation's entry does not record the override: %s", compact(entry))
			}
			rows := c.history(in.id)
			if last := rows[len(rows)-1]; last["event"] != "accredited" || c.num(last, "seq") != seq || last["reason"] != body["override_reason"] {
				c.fatalf("the history ends with %s, want the accreditation %d with its override reason", compact(last), seq)
			}
			o := c.outcome(c.learner(), func(o map[string]any) { o["sector"] = "degree" })
			c.postOK(in, o)
		}},
	}
}
