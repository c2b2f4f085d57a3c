package browser

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoCertutil is returned by [Pool.Open] when SessionOptions.CACerts is
// set and NSS's certutil is not installed: Chromium on Linux trusts
// additional CAs only through an NSS database, which certutil writes.
var ErrNoCertutil = errors.New(`trusting a CA file in the browser needs NSS's certutil (install the Debian package "libnss3-tools")`)

// ErrBadCACerts is returned by [Pool.Open] when SessionOptions.CACerts
// holds no PEM certificate.
var ErrBadCACerts = errors.New("no PEM certificate in the CA file")

// trustHome makes a home directory under dir whose NSS database
// (~/.pki/nssdb, where Chromium on Linux looks) trusts the PEM
// certificates as TLS server CAs. The browser started with HOME set to it
// verifies certificates against them as well as its own roots.
func trustHome(ctx context.Context, dir string, pemCerts []byte) (string, error) {
	var certs [][]byte
	for rest := pemCerts; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(b))
		}
	}
	if len(certs) == 0 {
		return "", ErrBadCACerts
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		return "", ErrNoCertutil
	}
	home := filepath.Join(dir, "home")
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		return "", err
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, certutil, append([]string{"-d", "sql:" + db}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("-N", "--empty-password"); err != nil {
		return "", err
	}
	for i, c := range certs {
		file := filepath.Join(dir, fmt.Sprintf("ca-%d.pem", i))
		if err := os.WriteFile(file, c, 0o600); err != nil {
			return "", err
		}
		// "C,,": a CA trusted to issue TLS server certificates, nothing else.
		if err := run("-A", "-t", "C,,", "-n", fmt.Sprintf("authwatch-ca-%d", i), "-i", file); err != nil {
			return "", err
		}
	}
	return home, nil
}
