// Package tsatest runs an in-process RFC 3161 timestamp authority on
// loopback for tests: its own CA, a TSA certificate for time stamping, and
// switches to make it fail.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/tickmark-dev/tickmark/internal/tsa"
)

// Server is a running test TSA.
type Server struct {
	URL string
	// CAFile is a PEM file with the TSA's root certificate.
	CAFile string
	Roots  *x509.CertPool
	CA     *x509.Certificate
	Cert   *x509.Certificate
	down   atomic.Bool
	served atomic.Int64
	now    func() time.Time
}

// SetDown makes the TSA answer 503 (true) or serve again (false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Served counts tokens issued.
func (s *Server) Served() int64 { return s.served.Load() }

// Start starts a TSA whose certificate is valid from notBefore to notAfter
// (zero values: an hour ago to a year from now).
func Start(tb testing.TB, notBefore, notAfter time.Time) *Server {
	tb.Helper()
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tickmark test TSA root"},
		NotBefore: notBefore.Add(-time.Hour), NotAfter: notAfter.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ekuValue, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tickmark test TSA"},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: ekuValue}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := &Server{CA: ca, Cert: cert, Roots: x509.NewCertPool(), now: time.Now}
	s.Roots.AddCert(ca)
	s.CAFile = filepath.Join(tb.TempDir(), "tsa-ca.pem")
	if err := os.WriteFile(s.CAFile, tsa.PEM(ca), 0o600); err != nil {
		tb.Fatal(err)
	}
	var serial atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: s.now().UTC().Truncate(time.Second),
			Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, SerialNumber: big.NewInt(serial.Add(1)),
			AddTSACertificate: true, Certificates: []*x509.Certificate{ca}}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.served.Add(1)
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}
