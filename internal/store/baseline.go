package store

import (
	"context"
	"encoding/json"
	"time"
)

// Baselines keeps each flow's learned baseline (internal/baseline) and
// every accept of one: who took a flow's changed behaviour as normal, and
// when. The daemon saves a flow's baseline as it learns and compares;
// `authwatch baseline accept` records an accept, which the daemon applies
// at the flow's next passing run (it reads the accepts newer than the last
// one it applied).
//
// The store keeps a baseline's bytes as given and never looks inside.
type Baselines interface {
	// LoadBaseline returns the flow's baseline, and false if it has none.
	LoadBaseline(ctx context.Context, flow string) (Baseline, bool, error)
	// SaveBaseline replaces the flow's baseline. Flow must not be empty.
	SaveBaseline(ctx context.Context, b Baseline) error
	// SaveBaselines replaces several flows' baselines in one transaction
	// (the daemon saves what its runs changed in batches: one commit per
	// baseline would take the writer from the runs at 10,000 flows).
	SaveBaselines(ctx context.Context, bs []Baseline) error
	// DeleteBaseline drops the flow's baseline (not its accepts), if any.
	DeleteBaseline(ctx context.Context, flow string) error
	// AcceptBaseline records an accept and returns it with its ID, which
	// grows with every accept. Flow and By must not be empty.
	AcceptBaseline(ctx context.Context, a BaselineAccept) (BaselineAccept, error)
	// BaselineAccepts returns the flow's accepts with an ID above after,
	// oldest first, at most limit of them (limit <= 0: all).
	BaselineAccepts(ctx context.Context, flow string, after int64, limit int) ([]BaselineAccept, error)
}

// Baseline is a flow's baseline as stored.
type Baseline struct {
	Flow    string
	Data    json.RawMessage
	Updated time.Time
}

// BaselineAccept is one accept of a flow's changed behaviour.
type BaselineAccept struct {
	ID   int64 // assigned by the store
	Flow string
	By   string
	At   time.Time
}
