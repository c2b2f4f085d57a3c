package daemon

import (
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
)

// A changed store.postgres DSN or secret key reference, or cluster
// setting, is a restart-only change (a SIGHUP warns that it applies at
// restart), and the rendering quotes neither reference.
func TestRestartOnlySeesTheStore(t *testing.T) {
	with := func(dsn, key string, cluster bool) string {
		c := config.Default()
		c.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate(dsn), SecretKey: conf.NewTemplate(key)}
		c.Cluster.Enabled = cluster
		return restartOnly(c)
	}
	base := with("${file:/etc/authwatch/dsn}", "${file:/etc/authwatch/key}", false)
	for name, other := range map[string]string{
		"dsn":     with("${file:/etc/authwatch/dsn-blue}", "${file:/etc/authwatch/key}", false),
		"key":     with("${file:/etc/authwatch/dsn}", "${credential:pg_key}", false),
		"cluster": with("${file:/etc/authwatch/dsn}", "${file:/etc/authwatch/key}", true),
	} {
		if other == base {
			t.Errorf("a changed %s is not seen as a restart-only change", name)
		}
	}
	if strings.Contains(base, "/etc/authwatch") {
		t.Errorf("restartOnly quotes a reference: %s", base)
	}
}
