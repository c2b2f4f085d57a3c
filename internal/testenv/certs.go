package testenv

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opensslTimeout bounds each openssl invocation.
const opensslTimeout = 30 * time.Second

// CertFile is one test certificate and its private key, as PEM files.
type CertFile struct {
	CertFile string // PEM certificate (the leaf only)
	KeyFile  string // PEM private key (unencrypted)
	Cert     *x509.Certificate
}

// CertSet is a throwaway test PKI made by Certs. TEST ONLY: the keys are
// unencrypted in a temporary directory and every subject says
// "authwatch TEST ONLY".
type CertSet struct {
	Dir string
	// CAFile is the test CA's certificate: give it to a step as ca_file.
	CAFile string
	CA     *x509.Certificate
	// Valid is signed by the CA for 127.0.0.1 and localhost, valid from an
	// hour ago for 30 days.
	Valid CertFile
	// Expired is signed by the CA for 127.0.0.1 and localhost; it was valid
	// from 60 to 30 days ago.
	Expired CertFile
	// WrongHost is signed by the CA, valid, but only for other.example.
	WrongHost CertFile
	// SelfSigned is valid for 127.0.0.1 and localhost but signed by itself,
	// so no trust store (and not CAFile) vouches for it.
	SelfSigned CertFile
	// Expiring is signed by the CA for 127.0.0.1 and localhost and expires
	// 3 days from now.
	Expiring CertFile
}

// Certs makes a test CA and leaf certificates with the openssl command line
// tool in t.TempDir(): valid, expired, for the wrong host name, self-signed
// and expiring in 3 days (see CertSet). Backdated certificates are issued
// with `openssl ca -startdate/-enddate`, which every OpenSSL version has
// (`openssl x509 -not_before` only exists from OpenSSL 3.4). Keys are ECDSA
// P-256. Without openssl the test is skipped, or fails when CI is set.
func Certs(t testing.TB) *CertSet {
	t.Helper()
	Require(t, "openssl")
	dir := t.TempDir()
	g := &certGen{t: t, dir: dir}
	g.write("openssl.cnf", fmt.Sprintf(opensslConf, dir))
	g.write("index.txt", "")
	g.write("serial", "1000\n")
	if err := os.Mkdir(filepath.Join(dir, "newcerts"), 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	g.write("leaf.ext", leafExtensions)

	cs := &CertSet{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	g.key("ca.key")
	g.openssl("req", "-x509", "-new", "-key", g.path("ca.key"), "-sha256", "-days", "30",
		"-subj", "/O=authwatch TEST ONLY/CN=authwatch test CA (test only)",
		"-extensions", "v3_ca", "-set_serial", "1", "-out", cs.CAFile)
	cs.CA = g.parse(cs.CAFile)

	now := time.Now()
	cs.Valid = g.signed("valid", "127.0.0.1", "leaf_loopback", now.Add(-time.Hour), now.Add(30*24*time.Hour))
	cs.Expired = g.signed("expired", "127.0.0.1", "leaf_loopback", now.Add(-60*24*time.Hour), now.Add(-30*24*time.Hour))
	cs.WrongHost = g.signed("wronghost", "other.example", "leaf_other", now.Add(-time.Hour), now.Add(30*24*time.Hour))
	cs.Expiring = g.signed("expiring", "127.0.0.1", "leaf_loopback", now.Add(-time.Hour), now.Add(3*24*time.Hour))

	ss := CertFile{CertFile: g.path("selfsigned.pem"), KeyFile: g.path("selfsigned.key")}
	g.key("selfsigned.key")
	g.openssl("req", "-x509", "-new", "-key", ss.KeyFile, "-sha256", "-days", "30",
		"-subj", "/O=authwatch TEST ONLY/CN=127.0.0.1", "-extensions", "leaf_selfsigned", "-out", ss.CertFile)
	ss.Cert = g.parse(ss.CertFile)
	cs.SelfSigned = ss

	// The set is only useful if each certificate is what its name says.
	switch {
	case !cs.CA.IsCA:
		t.Fatalf("testenv: the test CA is not a CA certificate")
	case !now.After(cs.Expired.Cert.NotAfter):
		t.Fatalf("testenv: the expired certificate is valid until %s", cs.Expired.Cert.NotAfter)
	case cs.Expiring.Cert.NotAfter.Sub(now) > 3*24*time.Hour+time.Minute:
		t.Fatalf("testenv: the expiring certificate is valid until %s", cs.Expiring.Cert.NotAfter)
	case cs.WrongHost.Cert.VerifyHostname("127.0.0.1") == nil:
		t.Fatalf("testenv: the wrong-host certificate is valid for 127.0.0.1")
	case cs.Valid.Cert.VerifyHostname("127.0.0.1") != nil || cs.Valid.Cert.VerifyHostname("localhost") != nil:
		t.Fatalf("testenv: the valid certificate is not valid for 127.0.0.1 and localhost: %v", cs.Valid.Cert.DNSNames)
	}
	return cs
}

// opensslConf is a self-contained configuration (the system openssl.cnf is
// not read), with the CA database for `openssl ca` in the directory %[1]s.
const opensslConf = `# Test only: a throwaway CA written by internal/testenv.
[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = authwatch test only

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[leaf_selfsigned]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash

[ca]
default_ca = test_ca

[test_ca]
dir = %[1]s
database = %[1]s/index.txt
new_certs_dir = %[1]s/newcerts
serial = %[1]s/serial
certificate = %[1]s/ca.pem
private_key = %[1]s/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[policy_any]
organizationName = optional
commonName = supplied
`

// leafExtensions are the -extfile sections of CA-signed leaves.
const leafExtensions = `[leaf_loopback]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid

[leaf_other]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
authorityKeyIdentifier = keyid
`

type certGen struct {
	t   testing.TB
	dir string
}

func (g *certGen) path(name string) string { return filepath.Join(g.dir, name) }

func (g *certGen) write(name, content string) {
	g.t.Helper()
	if err := os.WriteFile(g.path(name), []byte(content), 0o600); err != nil {
		g.t.Fatalf("testenv: %v", err)
	}
}

// openssl runs one openssl command with the test configuration.
func (g *certGen) openssl(args ...string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opensslTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "OPENSSL_CONF="+g.path("openssl.cnf"))
	if args[0] == "req" || args[0] == "ca" {
		cmd.Args = append(cmd.Args, "-config", g.path("openssl.cnf"))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("testenv: openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (g *certGen) key(name string) {
	g.t.Helper()
	g.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", g.path(name))
}

// signed issues a CA-signed leaf for cn with the extensions section ext,
// valid from notBefore to notAfter.
func (g *certGen) signed(name, cn, ext string, notBefore, notAfter time.Time) CertFile {
	g.t.Helper()
	cf := CertFile{CertFile: g.path(name + ".pem"), KeyFile: g.path(name + ".key")}
	g.key(name + ".key")
	csr := g.path(name + ".csr")
	g.openssl("req", "-new", "-key", cf.KeyFile, "-subj", "/O=authwatch TEST ONLY/CN="+cn, "-out", csr)
	g.openssl("ca", "-batch", "-notext", "-in", csr, "-out", cf.CertFile,
		"-startdate", asn1Time(notBefore), "-enddate", asn1Time(notAfter),
		"-extfile", g.path("leaf.ext"), "-extensions", ext)
	cf.Cert = g.parse(cf.CertFile)
	return cf
}

// asn1Time formats t as an ASN.1 UTCTime, the form `openssl ca` takes.
func asn1Time(t time.Time) string { return t.UTC().Format("060102150405Z") }

func (g *certGen) parse(path string) *x509.Certificate {
	g.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatalf("testenv: %v", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		g.t.Fatalf("testenv: %s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		g.t.Fatalf("testenv: %s: %v", path, err)
	}
	return c
}
