package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	nginxReadyTimeout = 10 * time.Second
	nginxStartTries   = 3 // a port picked by FreePort may be taken before nginx binds it
)

// nginxPaths are where nginx may be when it is not on PATH: Debian installs
// it in /usr/sbin, which is not on every user's PATH.
var nginxPaths = []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"}

// NginxServer is a running nginx started by Nginx (test only: it listens on
// 127.0.0.1 only and keeps every file in a test's temporary directory).
type NginxServer struct {
	// Ports are the ports substituted for {{port0}}, {{port1}}, ... in the
	// configuration, in that order.
	Ports []int
	// Dir is nginx's prefix: nginx.conf, the logs, the pid file and the
	// temp paths are in it.
	Dir string
	// ConfPath is the full nginx.conf that was written.
	ConfPath string
	// Cmd is the started process: nginx, or the wrapper (e.g. faketime)
	// that runs it. It leads its own process group.
	Cmd *exec.Cmd
}

// URL returns http://127.0.0.1:PORT for port i (the port of {{port<i>}}).
func (n *NginxServer) URL(i int) string { return "http://" + n.Addr(i) }

// Addr returns 127.0.0.1:PORT for port i.
func (n *NginxServer) Addr(i int) string { return "127.0.0.1:" + strconv.Itoa(n.Ports[i]) }

// ErrorLog returns what nginx wrote to its error log so far.
func (n *NginxServer) ErrorLog() string { return readTail(filepath.Join(n.Dir, "error.log")) }

// AccessLog returns nginx's access log so far.
func (n *NginxServer) AccessLog() string { return readTail(filepath.Join(n.Dir, "access.log")) }

// NginxOptions tune NginxWith.
type NginxOptions struct {
	// Wrapper is a command that runs nginx, e.g. Faketime(t, "+2h").
	Wrapper []string
}

// Nginx starts nginx with confBody as the contents of its http {} block and
// returns once every port accepts connections. confBody holds the server
// blocks; write each listen directive as `listen 127.0.0.1:{{port0}};`
// ({{port1}}, ... for more ports): Nginx picks free ports and substitutes
// them, and refuses a listen directive on any other address. {{dir}} is
// replaced by the server's Dir.
//
// The main configuration around it runs nginx in the foreground as a single
// process (daemon off, master_process off) with its pid file, error and
// access logs and every *_temp_path in t.TempDir(). Cleanup stops the process
// group and waits for it; the error log is printed when the test failed.
// Without nginx (looked up on PATH and in /usr/sbin) the test is skipped, or
// fails when CI is set.
func Nginx(t testing.TB, confBody string) *NginxServer {
	t.Helper()
	return NginxWith(t, NginxOptions{}, confBody)
}

var (
	portPlaceholder = regexp.MustCompile(`\{\{port(\d+)\}\}`)
	listenDirective = regexp.MustCompile(`(?m)^\s*listen\s+([^\s;]+)`)
)

// NginxWith is Nginx with options (a wrapper such as faketime).
func NginxWith(t testing.TB, opts NginxOptions, confBody string) *NginxServer {
	t.Helper()
	bin := nginxBinary(t)
	if len(opts.Wrapper) > 0 {
		Require(t, opts.Wrapper[0])
	}
	nports := 0
	for _, m := range portPlaceholder.FindAllStringSubmatch(confBody, -1) {
		i, _ := strconv.Atoi(m[1])
		nports = max(nports, i+1)
	}
	if nports == 0 {
		t.Fatalf("testenv: nginx configuration has no {{port0}} placeholder to listen on")
	}
	for _, m := range listenDirective.FindAllStringSubmatch(confBody, -1) {
		if !strings.HasPrefix(m[1], "127.0.0.1:{{port") {
			t.Fatalf("testenv: nginx listen %q: listen on 127.0.0.1:{{portN}} only", m[1])
		}
	}

	var lastErr error
	for try := 1; try <= nginxStartTries; try++ {
		srv, err := startNginx(t, bin, opts, confBody, nports)
		if err == nil {
			return srv
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
		t.Logf("testenv: nginx start %d/%d: %v; retrying with other ports", try, nginxStartTries, err)
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("a port was taken before nginx could bind it")

func startNginx(t testing.TB, bin string, opts NginxOptions, confBody string, nports int) (*NginxServer, error) {
	t.Helper()
	dir := t.TempDir()
	n := &NginxServer{Dir: dir, ConfPath: filepath.Join(dir, "nginx.conf")}
	for i := 0; i < nports; i++ {
		for {
			p := FreePort(t)
			if !slices.Contains(n.Ports, p) {
				n.Ports = append(n.Ports, p)
				break
			}
		}
	}
	body := portPlaceholder.ReplaceAllStringFunc(confBody, func(s string) string {
		i, _ := strconv.Atoi(portPlaceholder.FindStringSubmatch(s)[1])
		return strconv.Itoa(n.Ports[i])
	})
	body = strings.ReplaceAll(body, "{{dir}}", dir)
	if err := os.WriteFile(n.ConfPath, []byte(nginxMainConf(dir, body)), 0o644); err != nil {
		return nil, err
	}

	args := append(append([]string{}, opts.Wrapper...), bin, "-p", dir, "-c", n.ConfPath, "-e", filepath.Join(dir, "error.log"))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = stopGrace
	n.Cmd = cmd
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %v", strings.Join(args, " "), err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { stopProcessGroup(t, "nginx", pgid, exited) }) }
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: nginx (%s) error log:\n%s%s", n.ConfPath, n.ErrorLog(), out.String())
		}
	})

	deadline := time.Now().Add(nginxReadyTimeout)
	for _, port := range n.Ports {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		for {
			select {
			case <-exited:
				log := n.ErrorLog() + out.String()
				stop()
				err := fmt.Errorf("nginx exited before it listened (%v); error log:\n%s", waitErr, log)
				if strings.Contains(log, "Address already in use") {
					err = fmt.Errorf("%w: %v", errPortTaken, err)
				}
				return nil, err
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				stop()
				return nil, fmt.Errorf("nginx did not listen on %s within %s; error log:\n%s", addr, nginxReadyTimeout, n.ErrorLog())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("testenv: nginx on %v ready in %s (pid %d)", n.Ports, time.Since(start).Round(time.Millisecond), pgid)
	return n, nil
}

// nginxMainConf is the full nginx.conf around the caller's http {} body.
func nginxMainConf(dir, httpBody string) string {
	p := func(name string) string { return filepath.Join(dir, name) }
	return fmt.Sprintf(`# Written by internal/testenv for one test (test only).
daemon off;
master_process off;
worker_processes 1;
pid %s;
error_log %s info;

events {
    worker_connections 128;
}

http {
    access_log %s;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    default_type text/plain;
    server_tokens off;

%s
}
`, p("nginx.pid"), p("error.log"), p("access.log"), p("client_body_temp"), p("proxy_temp"), p("fastcgi_temp"), p("uwsgi_temp"), p("scgi_temp"), httpBody)
}

// nginxBinary finds nginx on PATH or in the sbin directories.
func nginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range nginxPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	unavailable(t, "nginx not found on PATH or in %s; install it with: apt-get install nginx-light", strings.Join(nginxPaths, ", "))
	return ""
}

// stopProcessGroup sends SIGTERM to the process group pgid (which this
// package started), waits for its leader, then SIGKILLs what is left of the
// group and waits until no live process remains in it.
func stopProcessGroup(t testing.TB, name string, pgid int, exited <-chan struct{}) {
	t.Helper()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(stopGrace):
			t.Errorf("testenv: %s (pid %d) did not exit after SIGKILL", name, pgid)
			return
		}
	}
	deadline := time.Now().Add(stopGrace)
	for {
		alive := LiveGroupMembers(pgid)
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("testenv: %s processes %v of group %d still alive after cleanup", name, alive, pgid)
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// readTail returns the last 16 KiB of a file, or "" when it cannot be read.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 16<<10 {
		b = b[len(b)-16<<10:]
	}
	return string(b)
}
