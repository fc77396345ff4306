package whatsapp

import "container/list"

// seenSet is a bounded memory of keys: the oldest key is forgotten when a
// new one would exceed max. Not safe for concurrent use (the worker owns it).
type seenSet struct {
	max   int
	order *list.List // of string, oldest at the front
	keys  map[string]*list.Element
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, order: list.New(), keys: make(map[string]*list.Element, max)}
}

// add records key and reports whether it was new.
func (s *seenSet) add(key string) bool {
	if _, ok := s.keys[key]; ok {
		return false
	}
	s.keys[key] = s.order.PushBack(key)
	if s.order.Len() > s.max {
		old := s.order.Front()
		s.order.Remove(old)
		delete(s.keys, old.Value.(string))
	}
	return true
}

// has reports whether key is remembered.
func (s *seenSet) has(key string) bool {
	_, ok := s.keys[key]
	return ok
}

// len is the number of keys remembered.
func (s *seenSet) len() int { return s.order.Len() }
