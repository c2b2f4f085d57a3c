package flows

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretFileCap bounds a secret file read; a secret is never this large.
const secretFileCap = 64 << 10

// SecretSource resolves ${env:…}, ${file:…} and ${credential:…} references.
// Values are read on every run, so a rotated secret is used without restart.
type SecretSource struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// CredentialsDir is systemd's $CREDENTIALS_DIRECTORY (default: read from
	// the environment on each lookup).
	CredentialsDir string
}

// errSecretMissing marks an unset or empty secret: credentials_missing.
var errSecretMissing = errors.New("secret missing")

// Resolve returns the value a secret reference names.
func (s SecretSource) Resolve(ref Ref) (string, error) {
	switch ref.Kind {
	case refEnv:
		lookup := s.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(ref.Name)
		if !ok || v == "" {
			return "", fmt.Errorf("%w: environment variable %s is %s", errSecretMissing, ref.Name, unsetOrEmpty(ok))
		}
		return v, nil
	case refFile:
		return readSecretFile(ref.Name, "file "+ref.Name)
	case refCredential:
		dir := s.CredentialsDir
		if dir == "" {
			dir = s.env("CREDENTIALS_DIRECTORY")
		}
		if dir == "" {
			return "", fmt.Errorf("%w: credential %s: $CREDENTIALS_DIRECTORY is not set (add LoadCredential=%s:/path to the unit)", errSecretMissing, ref.Name, ref.Name)
		}
		return readSecretFile(filepath.Join(dir, ref.Name), "credential "+ref.Name)
	}
	return "", fmt.Errorf("reference %s is not a secret", ref)
}

func (s SecretSource) env(name string) string {
	if s.LookupEnv != nil {
		v, _ := s.LookupEnv(name)
		return v
	}
	return os.Getenv(name)
}

func readSecretFile(path, what string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist", errSecretMissing, what)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", errSecretMissing, what, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, secretFileCap))
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %v", errSecretMissing, what, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%w: %s is empty", errSecretMissing, what)
	}
	return v, nil
}

func unsetOrEmpty(set bool) string {
	if set {
		return "empty"
	}
	return "not set"
}
