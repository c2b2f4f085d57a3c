package baseline

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"sync"
)

// Parking: after learning, a flow's runs are compared by their digest
// (ObserveRun), and the learned scalars and sets are read again only when
// a run's shape differs, when a drift is accepted, or when the baseline is
// saved or shown. Kept as maps they were about half the daemon's live heap
// at 10,000 flows; a baseline whose runs keep one shape keeps them as
// compressed JSON instead, unpacked when they are needed.

// parkAfterHits is how many runs in a row must match the memo before the
// learned features are packed: a flow whose shape changes from run to run
// keeps them as maps rather than packing and unpacking on every run.
const parkAfterHits = 3

// learnedFeatures is what a parked baseline packs.
type learnedFeatures struct {
	Scalars map[string]*ScalarStats `json:"s,omitempty"`
	Sets    map[string]*SetStats    `json:"t,omitempty"`
	// Last is a learning baseline's previous run's features (learnRun).
	Last []Feature `json:"l,omitempty"`
}

var (
	flateWriters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid: no error
		return w
	}}
	flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// Parked reports whether the learned features are packed.
func (b *Baseline) Parked() bool { return b.parked != nil }

// park packs the learned features of a frozen baseline; on an error (none
// is expected) they stay as they are.
func (b *Baseline) park() {
	if b.parked != nil || len(b.Scalars)+len(b.Sets) == 0 {
		return
	}
	var buf bytes.Buffer
	w := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(w)
	w.Reset(&buf)
	if err := json.NewEncoder(w).Encode(learnedFeatures{Scalars: b.Scalars, Sets: b.Sets, Last: b.lmemo.last}); err != nil {
		return
	}
	if err := w.Close(); err != nil {
		return
	}
	b.parked = bytes.Clone(buf.Bytes()) // the buffer's spare capacity is not kept
	b.Scalars, b.Sets, b.lmemo.last = nil, nil, nil
}

// unpark unpacks the learned features. A pack that cannot be read (none
// is expected: it was written by park) starts learning anew rather than
// comparing runs with nothing.
func (b *Baseline) unpark() {
	if b.parked == nil {
		return
	}
	f, err := unpack(b.parked)
	b.parked = nil
	if err != nil {
		*b = *New(b.Flow, b.Digest, b.Learn)
		return
	}
	b.Scalars, b.Sets, b.lmemo.last = f.Scalars, f.Sets, f.Last
	b.applyRepeats()
	b.shareFeatures()
}

// applyRepeats learns the runs learnRun counted while the maps were packed.
func (b *Baseline) applyRepeats() {
	for range b.lmemo.repeats {
		b.learnFeatures(b.lmemo.last)
	}
	b.lmemo.repeats = 0
}

// withFeatures returns b, or a copy of it with its features unpacked when
// it is parked (for reading: View, MarshalJSON).
func (b *Baseline) withFeatures() (*Baseline, error) {
	if b.parked == nil {
		return b, nil
	}
	f, err := unpack(b.parked)
	if err != nil {
		return nil, err
	}
	c := *b
	c.parked, c.Scalars, c.Sets, c.lmemo.last = nil, f.Scalars, f.Sets, f.Last
	c.applyRepeats() // on the copy's own maps
	return &c, nil
}

func unpack(blob []byte) (learnedFeatures, error) {
	r := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(blob), nil); err != nil {
		return learnedFeatures{}, err
	}
	var f learnedFeatures
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return learnedFeatures{}, err
	}
	if f.Scalars == nil {
		f.Scalars = map[string]*ScalarStats{}
	}
	if f.Sets == nil {
		f.Sets = map[string]*SetStats{}
	}
	return f, nil
}

// MarshalJSON writes the baseline with its learned features, parked or
// not.
func (b Baseline) MarshalJSON() ([]byte, error) {
	type plain Baseline // without this method
	full, err := b.withFeatures()
	if err != nil {
		return nil, err
	}
	return json.Marshal((*plain)(full))
}
