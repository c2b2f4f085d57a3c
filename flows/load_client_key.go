package flows

import (
	"github.com/goccy/go-yaml/ast"

	"github.com/authwatch/authwatch/internal/conf"
)

// loadSecretChecker is a step that checks the secrets it parses (a private
// key, a certificate) at load, when their references resolve there.
type loadSecretChecker interface {
	checkLoadSecrets(resolve func(conf.Ref) (string, error)) error
}

// checkLoadSecrets parses a step's keys at load: a key that does not parse
// is a positioned error now, not a failing run later. Only references that
// resolved when checkRefs read them are read again (never a stalled mount),
// and the values are not kept.
func (l *loader) checkLoadSecrets(file, path string, m *ast.MappingNode, step Step) {
	c, ok := step.(loadSecretChecker)
	if !ok {
		return
	}
	resolve := func(ref conf.Ref) (string, error) {
		if err, seen := l.secrets[ref]; !seen || err != nil {
			return "", conf.ErrSecretMissing
		}
		return l.opts.Secrets.Resolve(ref)
	}
	l.problems.AddFieldErrors(file, path, m, c.checkLoadSecrets(resolve))
}
