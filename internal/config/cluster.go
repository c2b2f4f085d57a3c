package config

import (
	"errors"
	"regexp"

	"github.com/authwatch/authwatch/internal/conf"
)

// ClusterConfig makes the daemon one node of several sharing the
// PostgreSQL store (docs/cluster.md): it runs only the flows of the shards
// it leases.
type ClusterConfig struct {
	Enabled bool `yaml:"enabled" jsonschema:"description=Share the flows with the other nodes on the same store.postgres database: each flow runs on one node per location (shard leases; docs/cluster.md). Needs store.postgres. Applies at start."`
	// Location names where the node probes from; nodes of one location
	// share its flows.
	Location string `yaml:"location" jsonschema:"pattern=^[a-z0-9][a-z0-9._-]{0\\,62}$,description=Where this node probes from\\, e.g. eu-west; the nodes of one location share its flows. Default: default."`
}

var locationName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (c ClusterConfig) validate(usesPostgres bool) error {
	var errs []error
	if c.Enabled && !usesPostgres {
		errs = append(errs, conf.FieldErrorf("enabled", "needs store.postgres: the nodes share their leases and state in one PostgreSQL database"))
	}
	if c.Location != "" && !locationName.MatchString(c.Location) {
		errs = append(errs, conf.FieldErrorf("location", "must be lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", c.Location))
	}
	return errors.Join(errs...)
}
