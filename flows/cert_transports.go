package flows

import (
	"container/list"
	"sync"
	"time"
)

// Bounds on the transports kept per client certificate. Certificates that
// rotate often (hourly SVIDs, cert-manager, Vault-issued ones) would
// otherwise leave a transport behind per certificate, each holding its
// rotated-out private key for the daemon's life.
const (
	// MaxCertTransports is how many client certificates' transports are
	// kept at once; the least recently used goes first.
	MaxCertTransports = 64
	// CertTransportIdle is how long a certificate's transport is kept
	// unused: a rotated-out certificate is dropped this long after its
	// last run.
	CertTransportIdle = time.Hour
)

// certTransportCache holds the transports of client certificates, least
// recently used first out; a dropped transport's idle connections are
// closed (its connections in use close when their runs end and they idle
// out).
type certTransportCache struct {
	mu      sync.Mutex
	max     int
	idle    time.Duration
	entries map[transportKey]*list.Element // → *certCacheEntry
	order   list.List                      // front: most recently used
}

type certCacheEntry struct {
	key  transportKey
	rt   *certTransport
	used time.Time
}

// get returns the transport for key and marks it used at now.
func (c *certTransportCache) get(key transportKey, now time.Time) (*certTransport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*certCacheEntry)
	e.used = now
	c.order.MoveToFront(el)
	return e.rt, true
}

// add keeps rt for key unless another run added one first (that one is
// returned), then drops what is over the bounds.
func (c *certTransportCache) add(key transportKey, rt *certTransport, now time.Time) *certTransport {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*certCacheEntry)
		e.used = now
		c.order.MoveToFront(el)
		c.mu.Unlock()
		return e.rt
	}
	if c.entries == nil {
		c.entries = map[transportKey]*list.Element{}
	}
	c.entries[key] = c.order.PushFront(&certCacheEntry{key: key, rt: rt, used: now})
	dropped := c.dropLocked(now)
	c.mu.Unlock()
	for _, d := range dropped {
		d.CloseIdleConnections()
	}
	return rt
}

// dropLocked removes the entries over max and those unused for longer
// than idle, from the least recently used.
func (c *certTransportCache) dropLocked(now time.Time) []*certTransport {
	max, idle := c.max, c.idle
	if max <= 0 {
		max = MaxCertTransports
	}
	if idle <= 0 {
		idle = CertTransportIdle
	}
	var dropped []*certTransport
	for el := c.order.Back(); el != nil; el = c.order.Back() {
		e := el.Value.(*certCacheEntry)
		if c.order.Len() <= max && now.Sub(e.used) <= idle {
			break
		}
		c.order.Remove(el)
		delete(c.entries, e.key)
		dropped = append(dropped, e.rt)
	}
	return dropped
}

// len is how many certificates' transports are kept.
func (c *certTransportCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
