package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is a process this program started, leading its own process group
// (Setpgid), so that stopping it also stops what it forked (nginx workers)
// and nothing else.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group and waits at most grace, then kills
// the group. It returns how long the process took to exit.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if p.exited() {
		return 0, p.err
	}
	_ = syscall.Kill(-p.pid(), sig)
	select {
	case <-p.done:
		return time.Since(t0), p.err
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	return time.Since(t0), fmt.Errorf("%s did not exit within %s after %s; killed", p.name, grace, sig)
}

// repoRoot walks up from the working directory to the authwatch go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/authwatch/authwatch\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run authwatch-bench inside the authwatch repository")
}

// goBuild builds pkg (relative to root) into out.
func goBuild(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// idp is testdata/oidc-provider/server.mjs.
type idp struct {
	*proc
	url string
}

func startIdP(ctx context.Context, root, tmp string, logw io.Writer) (*idp, error) {
	dir := filepath.Join(root, "testdata", "oidc-provider")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		fmt.Fprintln(os.Stderr, "authwatch-bench: npm ci in", dir)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm ci: %w", err)
		}
	}
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "ACCESS_TOKEN_TTL=86400", "KEY_DIR="+filepath.Join(tmp, "idp-keys"), "EXIT_ON_STDIN_EOF=1")
	stdin, err := cmd.StdinPipe() // closed when we exit: the IdP then exits too
	if err != nil {
		return nil, err
	}
	_ = stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logw
	p, err := startProc("oidc-provider", cmd)
	if err != nil {
		return nil, err
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	var listen string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				_, _ = p.stop(syscall.SIGTERM, 5*time.Second)
				return nil, errors.New("oidc-provider exited before READY (see its log)")
			}
			if u, ok := strings.CutPrefix(l, "LISTEN "); ok {
				listen = u
			}
			if strings.HasPrefix(l, "READY ") && listen != "" {
				return &idp{proc: p, url: listen}, nil
			}
		case <-deadline:
			_, _ = p.stop(syscall.SIGTERM, 5*time.Second)
			return nil, errors.New("oidc-provider not READY within 60 s")
		case <-ctx.Done():
			_, _ = p.stop(syscall.SIGTERM, 5*time.Second)
			return nil, ctx.Err()
		}
	}
}

// fetchToken asks tokenURL for a client-credentials token, as the flows do.
func fetchToken(ctx context.Context, tokenURL, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {apiResource}, "scope": {apiScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("token endpoint: %d %s", resp.StatusCode, b)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonUnmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token answer %q: %v", b, err)
	}
	return t.AccessToken, nil
}

// nginx serves the API (and the static token endpoint of the static
// variant, and a 401 API for the soak's failing flows).
type nginx struct {
	*proc
	url string
	dir string
}

const nginxConf = `worker_processes 2;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {{dir}}/client_body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    server {
        listen 127.0.0.1:{{port}};
        location /api {
            default_type application/json;
            return 200 '{"ok":true,"items":[{"id":"ord_1","status":"open"}]}';
        }
        location /api401 {
            default_type application/json;
            add_header WWW-Authenticate 'Bearer error="invalid_token", error_description="the token is not accepted"' always;
            return 401 '{"error":"invalid_token"}';
        }
        location = /static-token {
            default_type application/json;
            add_header Cache-Control no-store always;
            return 200 '{"access_token":"{{token}}","token_type":"Bearer","expires_in":86400,"scope":"api:read"}';
        }
    }
}
`

func startNginx(ctx context.Context, tmp, staticToken string) (*nginx, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("nginx not found: apt-get install nginx-light (or nginx)")
		}
	}
	dir := filepath.Join(tmp, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{token}}", staticToken).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, "stderr.log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		p, err := startProc("nginx", cmd)
		if err != nil {
			return nil, err
		}
		n := &nginx{proc: p, url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir}
		if err := waitHTTP(ctx, n.url+"/api/ping", 10*time.Second, p); err == nil {
			return n, nil
		} else {
			lastErr = err
		}
		_, _ = p.stop(syscall.SIGTERM, 5*time.Second)
	}
	return nil, fmt.Errorf("nginx did not start: %v (see %s/error.log)", lastErr, dir)
}

// waitHTTP polls u until it answers 200, at most limit.
func waitHTTP(ctx context.Context, u string, limit time.Duration, p *proc) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		authorize(req)
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s", u, limit)
}
