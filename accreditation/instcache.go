package accreditation

import (
	"sync"
	"sync/atomic"
)

// institutionCache keeps decoded institutions between reads: every
// authenticated request and every command reads one, and the read and
// decode took a seventh of a single post's time in the HTTP handler and as
// much again in the sequencer.
//
// An entry read from a durable snapshot of size at stays good while no
// entry at or after seq at has changed any institution. changedTo is one
// past the last entry decided that did; it is raised inside the sequencer
// as soon as such a command is decided, which is before its entries can be
// published, so a reader that holds a snapshot and then finds changedTo at
// or below at knows no change lies between at and its snapshot. A raise for
// a command that is then not written only costs a read.
type institutionCache struct {
	m         sync.Map // id -> *cachedInstitution
	changedTo atomic.Uint64
}

type cachedInstitution struct {
	in *Institution
	at uint64
}

// get returns the cached institution id if it is still good. Callers hold a
// snapshot (or the sequencer's view) from before the call.
func (c *institutionCache) get(id string) (*Institution, bool) {
	v, ok := c.m.Load(id)
	if !ok {
		return nil, false
	}
	ci := v.(*cachedInstitution)
	if c.changedTo.Load() > ci.at {
		return nil, false
	}
	return ci.in, true
}

// put caches in as read from a durable snapshot of size at.
func (c *institutionCache) put(id string, in *Institution, at uint64) {
	c.m.Store(id, &cachedInstitution{in: in, at: at})
}

// changed records that the entries before seq to changed an institution.
func (c *institutionCache) changed(to uint64) {
	for {
		old := c.changedTo.Load()
		if to <= old || c.changedTo.CompareAndSwap(old, to) {
			return
		}
	}
}
