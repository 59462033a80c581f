package main

import (
	"errors"
	"strconv"
	"sync"
)

// maxItems bounds the items clients may add, so that a client with the
// write scope cannot fill the memory: past it, POST /api/items is 507.
const maxItems = 1000

// errStoreFull is the refusal of an item past maxItems.
var errStoreFull = errors.New("the item store is full")

// item is one entry of the demo list.
type item struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CreatedBy is the client (client_id, else sub) that added the item;
	// empty for the demo items.
	CreatedBy string `json:"created_by,omitempty"`
}

// demoItems are in every new store.
var demoItems = []item{
	{ID: "1", Name: "widget"},
	{ID: "2", Name: "gadget"},
	{ID: "3", Name: "gizmo"},
}

// itemStore holds the items in memory, in the order they were added. It
// is safe for concurrent use.
type itemStore struct {
	mu    sync.Mutex
	items []item
	added int
}

func newItemStore() *itemStore {
	return &itemStore{items: append([]item(nil), demoItems...)}
}

// list returns a copy of the items.
func (s *itemStore) list() []item {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]item{}, s.items...)
}

// add stores an item named name and returns it with its new ID.
func (s *itemStore) add(name, createdBy string) (item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added >= maxItems {
		return item{}, errStoreFull
	}
	s.added++
	it := item{ID: strconv.Itoa(len(demoItems) + s.added), Name: name, CreatedBy: createdBy}
	s.items = append(s.items, it)
	return it, nil
}
