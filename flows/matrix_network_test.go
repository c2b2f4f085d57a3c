package flows_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/testenv"
)

// matrixNXDomainServer is a DNS server on 127.0.0.1 (UDP) that answers every
// query NXDOMAIN, as the DNS root does for the .invalid TLD (RFC 6761 §6.4).
// It returns its address and a counter of the queries it answered.
func matrixNXDomainServer(t *testing.T) (string, func() int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan int, 1)
	answered <- 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for { // ends when the cleanup closes pc
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := matrixNXDomain(buf[:n]); resp != nil {
				if _, err := pc.WriteTo(resp, from); err == nil {
					answered <- <-answered + 1
				}
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String(), func() int { n := <-answered; answered <- n; return n }
}

// matrixNXDomain builds the NXDOMAIN answer to a DNS query (RFC 1035 §4.1): the
// query's id and question, QR and RA set, RCODE 3, no records.
func matrixNXDomain(q []byte) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || q[4] != 0 || q[5] != 1 {
		return nil // not a query with exactly one question
	}
	i := 12
	for i < len(q) && q[i] != 0 { // QNAME labels
		if q[i]&0xc0 != 0 {
			return nil
		}
		i += int(q[i]) + 1
	}
	end := i + 1 + 4 // the root label, QTYPE, QCLASS
	if end > len(q) {
		return nil
	}
	resp := append([]byte(nil), q[:end]...)
	resp[2] = 0x80 | q[2]&0x79 // QR, the query's opcode and RD
	resp[3] = 0x80 | 3         // RA, RCODE NXDOMAIN
	for j := 6; j < 12; j++ {  // ANCOUNT, NSCOUNT, ARCOUNT
		resp[j] = 0
	}
	return resp
}

// TestMatrixNetwork: names that do not resolve, ports nothing listens on,
// and a real nginx whose upstream is too slow for the step's timeout (the
// headers phase) or stalls its body (the body phase).
//
// The DNS row resolves through a local DNS server: this machine's resolver
// is not on 127.0.0.1, and the matrix sends no traffic elsewhere. The
// runner's transport dials with a resolver that sends its queries to that
// server; everything after the lookup is the product's own path.
//
// proves: dns_failure, connection_failed, timeout
func TestMatrixNetwork(t *testing.T) {
	t.Parallel()
	dnsAddr, queries := matrixNXDomainServer(t)
	tr := flows.NewTransport()
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", dnsAddr)
		}}}
	tr.DialContext = dialer.DialContext
	r := flows.NewRunner()
	r.Transport = tr

	// The upstream sends its headers at once, then stalls the body.
	stall := make(chan struct{})
	stallingBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"orders": [`)
		w.(http.Flusher).Flush()
		select {
		case <-req.Context().Done():
		case <-stall:
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(stallingBody.Close)
	t.Cleanup(func() { close(stall) })
	slow := matrixSlowUpstream(t, 5*time.Second)
	ngx := testenv.Nginx(t, fmt.Sprintf(`
    server {
        listen 127.0.0.1:{{port0}};
        location /slow/ { proxy_pass http://%s/; }
        location /stalling/ {
            proxy_buffering off;
            proxy_pass http://%s/;
        }
    }`, slow.Listener.Addr(), stallingBody.Listener.Addr()))

	refused := matrixClosedPortURL(t)
	get := func(url, timeout string) string {
		s := "steps:\n  - id: call\n    kind: http\n    url: " + url + "\n"
		if timeout != "" {
			s += "    timeout: " + timeout + "\n"
		}
		return s
	}
	for _, c := range []matrixCase{
		{name: "nxdomain", flow: get("http://nonexistent.invalid/orders", "5s"),
			want: flows.ReasonDNSFailure, summary: []string{"host name nonexistent.invalid does not resolve", "no such host"},
			check: func(t *testing.T, res *flows.Result) {
				matrixWantFact("not_found", "true")(t, res)
				if queries() == 0 {
					t.Errorf("the local DNS server answered no query")
				}
			}},
		{name: "port_closed", flow: get(refused+"/orders", ""),
			want: flows.ReasonConnectionFailed, summary: []string{"connection to " + refused[len("http://"):] + " refused", "nothing listens there"}},
		{name: "upstream_slower_than_step_timeout", flow: get(ngx.URL(0)+"/slow/orders", "500ms"),
			want: flows.ReasonTimeout, summary: []string{"no complete answer from " + ngx.Addr(0), "timed out in the headers phase"},
			check: matrixWantFact("phase", "headers")},
		{name: "body_stalls", flow: get(ngx.URL(0)+"/stalling/orders", "500ms"),
			want: flows.ReasonTimeout, summary: []string{"timed out in the body phase"},
			check: matrixWantFact("phase", "body")},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			runMatrixCase(t, r, c)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the row took %s: a step timeout did not bound it", took)
			}
		})
	}
}

// TestMatrixTimeoutTLSPhase connects to a listener that accepts and never
// answers the TLS handshake (a TCP proxy or load balancer whose backend is
// gone). It is not parallel, so that what it shows under -race is blamed on
// it alone: Go's transport goes on with the handshake in the background
// after the step gave up, and the recorder's httptrace callbacks still write
// the exchange's timings then (internal/exchange/recorder.go).
//
// proves: timeout
func TestMatrixTimeoutTLSPhase(t *testing.T) {
	r := flows.NewRunner()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for { // ends when the cleanup closes the listener
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		<-acceptDone
		for _, c := range held {
			c.Close()
		}
		// Let the transport's background handshake fail now, within this
		// test, rather than during another one.
		time.Sleep(200 * time.Millisecond)
		r.Transport.(*http.Transport).CloseIdleConnections()
	})
	runMatrixCase(t, r, matrixCase{name: "tls_handshake_never_answered",
		flow: "steps:\n  - id: call\n    kind: http\n    url: https://" + silent.Addr().String() + "/\n    timeout: 500ms\n",
		want: flows.ReasonTimeout, summary: []string{"no complete answer from " + silent.Addr().String(), "timed out in the tls phase"},
		check: matrixWantFact("phase", "tls")})
}
