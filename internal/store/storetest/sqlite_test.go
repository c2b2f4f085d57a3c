package storetest_test

import (
	"path/filepath"
	"testing"

	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/internal/store/storetest"
)

// The SQLite store passes the suite: it is the reference the PostgreSQL
// store is held to.
func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.Backend {
		path := filepath.Join(t.TempDir(), "authwatch.db")
		var last *sqlite.Store
		t.Cleanup(func() {
			if last != nil {
				_ = last.Close()
			}
		})
		return func() storetest.Backend {
			s, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			last = s
			return s
		}
	})
}
