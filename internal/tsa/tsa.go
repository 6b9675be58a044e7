// Package tsa obtains and checks RFC 3161 timestamp tokens over signed
// checkpoints, so the collection time of every record is bounded by a
// trusted third party's clock, not only by the agent's.
package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
)

// Config is the top-level `timestamp_authority:` section.
type Config struct {
	// URL of the TSA (RFC 3161 over HTTP POST).
	URL string `yaml:"url"`
	// CABundle is "file:/path" to PEM certificates trusted as TSA roots.
	CABundle string `yaml:"ca_bundle"`
	// Timeout of one request (default 30s).
	Timeout string `yaml:"timeout"`
}

// Roots loads the CA bundle.
func (c *Config) Roots() (*x509.CertPool, error) {
	p, ok := strings.CutPrefix(c.CABundle, "file:")
	if !ok || p == "" {
		return nil, errors.New("ca_bundle must be file:/path/to/bundle.pem")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading TSA CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("TSA CA bundle %s holds no PEM certificate", p)
	}
	return pool, nil
}

// Client requests tokens.
type Client struct {
	URL  string
	HTTP *http.Client
}

// Stamp returns an RFC 3161 TimeStampResp (DER) over SHA-256(data), with the
// TSA's certificates included and a fresh nonce checked on return.
func (c *Client) Stamp(ctx context.Context, data []byte) ([]byte, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("timestamp authority %s: %w", hostOf(c.URL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("timestamp authority %s: %w", hostOf(c.URL), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("timestamp authority %s: HTTP %d", hostOf(c.URL), resp.StatusCode)
	}
	ts, err := timestamp.ParseResponse(body)
	if err != nil {
		return nil, fmt.Errorf("timestamp authority %s: bad response: %w", hostOf(c.URL), err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("timestamp authority %s: response nonce does not match the request", hostOf(c.URL))
	}
	if err := checkImprint(ts, data); err != nil {
		return nil, err
	}
	return body, nil
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?"); i >= 0 {
		u = u[:i]
	}
	return u
}

func checkImprint(ts *timestamp.Timestamp, data []byte) error {
	if ts.HashAlgorithm != crypto.SHA256 && ts.HashAlgorithm != crypto.SHA384 && ts.HashAlgorithm != crypto.SHA512 {
		return fmt.Errorf("timestamp token uses hash %v; SHA-256 or stronger required", ts.HashAlgorithm)
	}
	h := ts.HashAlgorithm.New()
	h.Write(data)
	if !bytes.Equal(h.Sum(nil), ts.HashedMessage) {
		return errors.New("timestamp token covers other bytes than this checkpoint")
	}
	return nil
}

// Verified is a checked token.
type Verified struct {
	Time   time.Time
	Signer string // the TSA certificate's subject
}

// VerifySignature checks a token's CMS signature and that it covers data,
// without checking who the TSA is (no trusted roots at hand). Use Verify
// whenever the TSA's CA certificates are available.
func VerifySignature(resp, data []byte) (*Verified, error) {
	ts, err := parseToken(resp)
	if err != nil {
		return nil, err
	}
	if err := checkImprint(ts, data); err != nil {
		return nil, err
	}
	v := &Verified{Time: ts.Time}
	if len(ts.Certificates) > 0 {
		v.Signer = ts.Certificates[0].Subject.String()
	}
	return v, nil
}

func parseToken(resp []byte) (*timestamp.Timestamp, error) {
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		// tokens stored bare (TimeStampToken) are accepted too
		ts2, err2 := timestamp.Parse(resp)
		if err2 != nil {
			return nil, fmt.Errorf("timestamp token does not parse or its signature is invalid: %w", err)
		}
		ts = ts2
	}
	return ts, nil
}

// Verify checks a stored TimeStampResp against the exact checkpoint bytes:
// the CMS signature, that the message imprint is the hash of data, and
// that the signing certificate chains to roots and is valid for time
// stamping at the token's time (it may have expired since).
func Verify(resp, data []byte, roots *x509.CertPool) (*Verified, error) {
	ts, err := parseToken(resp)
	if err != nil {
		return nil, err
	}
	if err := checkImprint(ts, data); err != nil {
		return nil, err
	}
	if len(ts.Certificates) == 0 {
		return nil, errors.New("timestamp token carries no certificate to check")
	}
	signer := ts.Certificates[0]
	inter := x509.NewCertPool()
	for _, c := range ts.Certificates[1:] {
		inter.AddCert(c)
	}
	if roots == nil {
		return nil, errors.New("no TSA CA bundle configured to check the token's certificate (timestamp_authority.ca_bundle)")
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return nil, fmt.Errorf("timestamp token from an untrusted TSA (%s): %w", signer.Subject, err)
	}
	return &Verified{Time: ts.Time, Signer: signer.Subject.String()}, nil
}

// PEM encodes certificates (test and documentation helper).
func PEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}
