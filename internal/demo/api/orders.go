package api

import (
	"sync"
	"time"
)

// order is one line of the demo's in-memory order book.
type order struct {
	ID        int       `json:"id"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// orderStore is the API's data, seeded so GET /orders shows something.
type orderStore struct {
	mu     sync.Mutex
	orders []order
}

func newOrderStore() *orderStore {
	t := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	return &orderStore{orders: []order{
		{ID: 1, Item: "widget", Quantity: 3, CreatedBy: "seed", CreatedAt: t},
		{ID: 2, Item: "gadget", Quantity: 1, CreatedBy: "seed", CreatedAt: t.Add(time.Hour)},
	}}
}

func (s *orderStore) list() []order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]order(nil), s.orders...)
}

func (s *orderStore) add(item string, quantity int, by string) order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := order{ID: len(s.orders) + 1, Item: item, Quantity: quantity, CreatedBy: by, CreatedAt: time.Now().UTC()}
	s.orders = append(s.orders, o)
	return o
}
