package credential

import (
	"strings"
	"testing"
)

// TestLink checks a link names its seq under the key that made it and
// nothing else: another key, another seq, a changed MAC or another
// spelling of the seq do not parse.
func TestLink(t *testing.T) {
	k, _ := NewKey()
	other, _ := NewKey()
	ref := k.Link(42)
	if seq, ok := k.ParseLink(ref); !ok || seq != 42 {
		t.Fatalf("ParseLink(%s) = %d, %v", ref, seq, ok)
	}
	if ref == k.Link(43) || !strings.HasPrefix(ref, "42-") || len(ref) != len("42-")+22 {
		t.Fatalf("link %s", ref)
	}
	mac := ref[len("42-"):]
	for _, bad := range []string{other.Link(42), "43-" + mac, "042-" + mac, "+42-" + mac, "42-" + mac[:21], "42-" + mac + "A",
		"42-" + strings.ToUpper(mac[:1]) + mac[1:], "42" + mac, "", "-" + mac} {
		if bad == ref {
			continue
		}
		if _, ok := k.ParseLink(bad); ok {
			t.Errorf("ParseLink(%q) accepted", bad)
		}
	}
}
