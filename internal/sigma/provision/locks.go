package provision

import (
	"sync"
)

// KeyedMutex serialises this process's writes to one user or team, so
// that two requests do not compute their changes from the same stale
// picture. Other replicas are not excluded: Sigma's own uniqueness (409)
// and delta-only membership changes keep them correct. The zero value is
// ready to use; a key's entry lives only while it is locked or awaited.
type KeyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu sync.Mutex
	n  int
}

// Lock locks key and returns the function that unlocks it.
func (k *KeyedMutex) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.n++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.n--; l.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
