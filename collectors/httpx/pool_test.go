package httpx

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A collector with 8 requests in flight to one host keeps its 8
// connections: http.DefaultTransport would keep 2 idle and dial again
// (a TCP and TLS handshake) for most requests beyond them.
func TestConcurrentRequestsReuseConnections(t *testing.T) {
	var dialed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // the requests overlap
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := New(nil, nil).Client(time.Minute)
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range rounds {
				resp, err := c.Get(srv.URL)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// One per request in flight, and as many again for dials that lose the
	// race to a connection coming back idle (DefaultTransport: about 60).
	if n := dialed.Load(); n > 2*workers {
		t.Fatalf("%d requests, %d at a time, opened %d connections; want at most %d", workers*rounds, workers, n, 2*workers)
	}
}
