package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
)

// maxTimeout bounds one delivery when the context has no deadline.
const maxTimeout = 30 * time.Second

// Notifier sends events as mail through one SMTP server.
type Notifier struct {
	cfg     Config
	secrets conf.SecretSource
	now     func() time.Time
	log     *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New makes the notifier. With tls: none it logs, once, that mail goes out
// in clear to the local relay, so the choice is visible.
func (c *Config) New(d notify.Deps) (notify.Notifier, error) {
	n := &Notifier{cfg: *c, secrets: d.Secrets, now: d.Now, log: d.Logger}
	if n.now == nil {
		n.now = time.Now
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if c.TLS == TLSNone {
		n.log.Warn("email: tls is none: mail goes to the local relay in clear", "host", c.Host, "port", c.Port)
	}
	return n, nil
}

// Notify sends one mail for the event. Connection failures and temporary
// (4xx) SMTP answers may succeed later; permanent (5xx) answers, a refused
// login and certificate problems will not.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	user, pass, err := n.credentials()
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	msg, err := n.message(ev)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	client, err := n.client(ctx, user, pass)
	if err != nil {
		return false, fmt.Errorf("email: %w", scrubbed(err, pass))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return retryable(err), fmt.Errorf("email: %s:%d: %w", n.cfg.Host, n.cfg.Port, scrubbed(err, pass))
	}
	return false, nil
}

func (n *Notifier) credentials() (user, pass string, err error) {
	if n.cfg.Username.IsZero() {
		return "", "", nil
	}
	if user, err = n.cfg.Username.ExpandSecrets(n.secrets); err != nil {
		return "", "", fmt.Errorf("username: %w", err)
	}
	if pass, err = n.cfg.Password.ExpandSecrets(n.secrets); err != nil {
		return "", "", fmt.Errorf("password: %w", err)
	}
	return user, pass, nil
}

// client is a go-mail client for one delivery: the CA file and secrets are
// read afresh, so rotations need no restart.
func (n *Notifier) client(ctx context.Context, user, pass string) (*mail.Client, error) {
	tc := &tls.Config{ServerName: n.cfg.Host, MinVersion: tls.VersionTLS12}
	if n.cfg.CAFile != "" {
		pool, err := loadCAFile(n.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	opts := []mail.Option{
		mail.WithPort(n.cfg.Port),
		mail.WithTimeout(timeout(ctx)),
		mail.WithTLSConfig(tc),
	}
	switch n.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if user != "" {
		// Auto-discovery picks the strongest mechanism the server offers and
		// never PLAIN or LOGIN without TLS.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user), mail.WithPassword(pass))
	}
	return mail.NewClient(n.cfg.Host, opts...)
}

// timeout is the time left before ctx's deadline, at most maxTimeout.
func timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(min(time.Until(dl), maxTimeout), time.Millisecond)
	}
	return maxTimeout
}

// retryable says whether another attempt may succeed.
func retryable(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		// go-mail reads the code from the server's answer; 0 means the
		// connection broke rather than the server refusing.
		return se.IsTemp() || se.ErrorCode() < 500
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code < 500 // 4xx temporary (e.g. 421, 454), 5xx permanent (e.g. 535)
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return false // fix the certificate or ca_file first
	case errors.Is(err, mail.ErrNoSupportedAuthDiscovered), errors.Is(err, mail.ErrPlainAuthNotSupported):
		return false
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return false // go-mail's error has no type; tls: starttls is mandatory
	}
	return true // refused, reset, timed out, EOF: the next attempt may connect
}

// scrubbed is err, or only its text with the password replaced should it
// ever show it: the chain (*textproto.Error, *net.OpError) stays for
// errors.As.
func scrubbed(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}
