package buffered

import "context"

// SaveSecret saves in the backend or, when it fails, in memory: a refresh
// token the IdP rotated must not be lost to a full disk, or the next run
// presents the dead one.
func (s *Store) SaveSecret(ctx context.Context, key, value string) error {
	s.mu.Lock()
	if s.failing {
		s.secrets[key] = &value
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := s.backend.SaveSecret(ctx, key, value)
	if !isStoreFault(ctx, err) {
		return err
	}
	s.mu.Lock()
	s.failLocked(err)
	s.secrets[key] = &value
	s.mu.Unlock()
	return nil
}

// LoadSecret returns the value kept in memory, else the backend's.
func (s *Store) LoadSecret(ctx context.Context, key string) (string, bool, error) {
	s.mu.Lock()
	v, kept := s.secrets[key]
	s.mu.Unlock()
	if kept {
		if v == nil {
			return "", false, nil
		}
		return *v, true, nil
	}
	return s.backend.LoadSecret(ctx, key)
}

// DeleteSecret deletes in the backend or, when it fails, in memory.
func (s *Store) DeleteSecret(ctx context.Context, key string) error {
	s.mu.Lock()
	if s.failing {
		s.secrets[key] = nil
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	err := s.backend.DeleteSecret(ctx, key)
	if !isStoreFault(ctx, err) {
		return err
	}
	s.mu.Lock()
	s.failLocked(err)
	s.secrets[key] = nil
	s.mu.Unlock()
	return nil
}
