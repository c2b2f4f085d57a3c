package config_test

import (
	"strings"
	"testing"
)

// store.postgres takes a DSN and a secret key from secret references; a
// password written in the file, a key written in the file and a missing
// DSN are refused at their lines. Without the section, SQLite it is.
func TestStorePostgres(t *testing.T) {
	_, c, err := load(t, "store:\n  postgres:\n    dsn: ${credential:pg_dsn}\n    secret_key: ${credential:pg_key}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesPostgres() || c.Store.Postgres.DSN.String() != "${credential:pg_dsn}" || c.Store.Postgres.SecretKey.String() != "${credential:pg_key}" {
		t.Errorf("store: %+v", c.Store.Postgres)
	}
	_, c, err = load(t, "store:\n  postgres: {dsn: host=/run/postgresql dbname=authwatch}\n")
	if err != nil || !c.UsesPostgres() {
		t.Errorf("a DSN without a password, written in the file: %v", err)
	}
	_, c, err = load(t, "listen: 127.0.0.1:9464\n")
	if err != nil || c.UsesPostgres() {
		t.Errorf("default store: postgres %v, %v; want SQLite", c.UsesPostgres(), err)
	}
	file, _, err := load(t, "store:\n  postgres:\n    dsn: postgres://aw:hunter2@db/aw\n    secret_key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	checkProblems(t, file, err, []want{
		{3, 10, "store.postgres.dsn", "holds a password"},
		{4, 17, "store.postgres.secret_key", "must be a secret reference"},
	})
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error quotes the password: %v", err)
	}
	file, _, err = load(t, "store:\n  postgres:\n    dsn: host=db password=hunter2\n")
	checkProblems(t, file, err, []want{{3, 10, "store.postgres.dsn", "holds a password"}})
	// A '#' in the password: url.Parse refuses the URL, or reads a
	// fragment, but the password is in the file all the same.
	for _, dsn := range []string{"postgres://aw:hun#ter@db/aw", "postgres://aw:12#ter@db/aw"} {
		file, _, err = load(t, "store:\n  postgres:\n    dsn: \""+dsn+"\"\n")
		checkProblems(t, file, err, []want{{3, 10, "store.postgres.dsn", "holds a password"}})
	}
	file, _, err = load(t, "store:\n  postgres:\n    secret_key: ${env:K}\n")
	checkProblems(t, file, err, []want{{3, 0, "store.postgres.dsn", "required"}})
}

// cluster needs store.postgres, and a location is a plain name; both are
// refused at their lines.
func TestCluster(t *testing.T) {
	_, c, err := load(t, "store:\n  postgres: {dsn: host=/run/postgresql dbname=aw}\ncluster:\n  enabled: true\n  location: eu-west\n")
	if err != nil || !c.Cluster.Enabled || c.Cluster.Location != "eu-west" {
		t.Errorf("cluster on postgres: %+v, %v", c.Cluster, err)
	}
	file, _, err := load(t, "cluster:\n  enabled: true\n  location: EU West\n")
	checkProblems(t, file, err, []want{
		{2, 12, "cluster.enabled", "needs store.postgres"},
		{3, 13, "cluster.location", "must be lower-case"},
	})
}
