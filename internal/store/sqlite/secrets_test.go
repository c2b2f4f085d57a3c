package sqlite

import (
	"context"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	load := func(key string) (string, bool) {
		t.Helper()
		v, ok, err := s.LoadSecret(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return v, ok
	}
	if v, ok := load("okta/refresh"); ok || v != "" {
		t.Errorf("missing key: got %q, %v", v, ok)
	}
	const first, second = "rt-1.\x00ünïcode\n", "rt-2"
	steps := []struct {
		name string
		do   func() error
		want string
		ok   bool
	}{
		{"save", func() error { return s.SaveSecret(ctx, "okta/refresh", first) }, first, true},
		{"overwrite", func() error { return s.SaveSecret(ctx, "okta/refresh", second) }, second, true},
		{"delete", func() error { return s.DeleteSecret(ctx, "okta/refresh") }, "", false},
		{"delete missing", func() error { return s.DeleteSecret(ctx, "okta/refresh") }, "", false},
		{"save empty value", func() error { return s.SaveSecret(ctx, "okta/refresh", "") }, "", true},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if v, ok := load("okta/refresh"); v != st.want || ok != st.ok {
			t.Errorf("after %s: got %q, %v; want %q, %v", st.name, v, ok, st.want, st.ok)
		}
	}
	if err := s.SaveSecret(ctx, "", "x"); err == nil {
		t.Error("SaveSecret with an empty key succeeded")
	}

	// A secret survives reopening.
	if err := s.SaveSecret(ctx, "auth0/refresh", second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, ok, err := s2.LoadSecret(ctx, "auth0/refresh"); v != second || !ok || err != nil {
		t.Errorf("after reopen: %q, %v, %v", v, ok, err)
	}
}

func TestSecretNotInErrors(t *testing.T) {
	s, _ := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	const value = "very-secret-refresh-token"
	err := s.SaveSecret(ctx, "k", value)
	if err == nil {
		t.Fatal("SaveSecret with a cancelled context succeeded")
	}
	if strings.Contains(err.Error(), value) {
		t.Errorf("error leaks the value: %v", err)
	}
}
