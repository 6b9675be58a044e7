package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/collectors/httpx"
)

// refreshBefore is how long before its expiry an access token is replaced.
const refreshBefore = 2 * time.Minute

// oauthClient gets access tokens for an OAuth 2.0 service app with
// private_key_jwt client authentication (RFC 7523) and binds them to a
// DPoP key (RFC 9449): every token request and every API request carries a
// fresh proof (htm, htu, iat, jti; ath for API requests; the server's
// nonce once it asked for one). All JOSE work is go-jose's.
type oauthClient struct {
	hc       *http.Client
	org      string
	tokenURL string
	clientID string
	keyID    string
	key      crypto.Signer // the app's private key (client assertion)
	scopes   []string
	dpop     bool
	now      func() time.Time // the clock of token expiry (tests move it); proofs and assertions use the wall clock

	proofSigner jose.Signer // ES256 over an ephemeral P-256 key, public JWK embedded

	mu         sync.Mutex
	access     string
	tokenType  string // DPoP or Bearer
	expiry     time.Time
	tokenNonce string // DPoP-Nonce of the authorization server
	apiNonce   string // DPoP-Nonce of the resource server
	refreshes  int
}

func newOAuthClient(hc *http.Client, org, clientID, keyID string, pemKey []byte, scopes []string, dpop bool) (*oauthClient, error) {
	key, err := parsePrivateKey(pemKey)
	if err != nil {
		return nil, err
	}
	o := &oauthClient{hc: hc, org: org, tokenURL: org + "/oauth2/v1/token", clientID: clientID, keyID: keyID, key: key, scopes: scopes, dpop: dpop, now: time.Now}
	if dpop {
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
		if o.proofSigner, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ek}, opts); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// parsePrivateKey reads an RSA or EC private key in PEM (PKCS #1, SEC 1 or
// PKCS #8) or a private JWK as Okta's admin console generates it.
func parsePrivateKey(b []byte) (crypto.Signer, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
			return k, nil
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, errors.New("private_key: the PEM block is not an RSA or EC private key (PKCS #1, SEC 1 or PKCS #8)")
		}
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("private_key: unsupported key type")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err == nil && !jwk.IsPublic() {
		if s, ok := jwk.Key.(crypto.Signer); ok {
			return s, nil
		}
	}
	return nil, errors.New("private_key: neither a PEM private key nor a private JWK")
}

func (o *oauthClient) assertionAlg() jose.SignatureAlgorithm {
	if k, ok := o.key.(*ecdsa.PrivateKey); ok {
		switch k.Curve.Params().BitSize {
		case 384:
			return jose.ES384
		case 521:
			return jose.ES512
		}
		return jose.ES256
	}
	return jose.RS256
}

// assertion is the signed client assertion (RFC 7523) for one token request.
func (o *oauthClient) assertion() (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if o.keyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), o.keyID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: o.assertionAlg(), Key: o.key}, opts)
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(sig).Claims(jwt.Claims{
		Issuer: o.clientID, Subject: o.clientID, Audience: jwt.Audience{o.tokenURL},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: randomID(),
	}).Serialize()
}

// dpopClaims are the claims of a DPoP proof (RFC 9449 section 4.2).
type dpopClaims struct {
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	JTI   string `json:"jti"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// proof is a fresh DPoP proof for one request: htu is the URL without its
// query and fragment; ath is set when an access token is presented.
func (o *oauthClient) proof(method string, u *url.URL, accessToken, nonce string) (string, error) {
	htu := *u
	htu.RawQuery, htu.Fragment, htu.User = "", "", nil
	c := dpopClaims{HTM: method, HTU: htu.String(), IAT: time.Now().Unix(), JTI: randomID(), Nonce: nonce}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.ATH = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return jwt.Signed(o.proofSigner).Claims(c).Serialize()
}

func randomID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// token returns a valid access token, requesting a new one when there is
// none or the current one expires within refreshBefore.
func (o *oauthClient) token(ctx context.Context, endpoint string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.access != "" && o.now().Add(refreshBefore).Before(o.expiry) {
		return o.access, nil
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var retry bool
		retry, err = o.request(ctx, endpoint)
		if !retry {
			break
		}
	}
	if err != nil {
		return "", err
	}
	o.refreshes++
	return o.access, nil
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// request sends one token request (o.mu held); retry says the server asked
// for a DPoP nonce, which is now set.
func (o *oauthClient) request(ctx context.Context, endpoint string) (bool, error) {
	as, err := o.assertion()
	if err != nil {
		return false, collectors.Permanent(fmt.Errorf("okta: org %s: signing the client assertion: %v", o.org, err))
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(o.scopes, " ")},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {as}}
	ctx = scoped(ctx, "/oauth2/v1/token")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, collectors.Permanent(fmt.Errorf("okta: org %s: %v", o.org, err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if o.dpop {
		p, err := o.proof(http.MethodPost, req.URL, "", o.tokenNonce)
		if err != nil {
			return false, collectors.Permanent(fmt.Errorf("okta: org %s: signing the DPoP proof: %v", o.org, err))
		}
		req.Header.Set("DPoP", p)
		nonce := o.tokenNonce
		req = req.WithContext(httpx.WithRetryHook(ctx, func(r *http.Request) error {
			p, err := o.proof(http.MethodPost, r.URL, "", nonce)
			r.Header.Set("DPoP", p)
			return err
		}))
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, collectors.Retryable(fmt.Errorf("okta: org %s: POST %s: %v", o.org, o.tokenURL, redactQuery(err.Error())))
	}
	defer resp.Body.Close()
	var tr tokenResponse
	derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr)
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		o.tokenNonce = n
	}
	if resp.StatusCode == http.StatusBadRequest && tr.Error == "use_dpop_nonce" && o.dpop && resp.Header.Get("DPoP-Nonce") != "" {
		return true, nil
	}
	if resp.StatusCode/100 != 2 || derr != nil || tr.AccessToken == "" {
		code, desc := tr.Error, tr.ErrorDescription
		if code == "" {
			code = fmt.Sprintf("HTTP %d", resp.StatusCode)
		}
		msg := fmt.Errorf("okta: org %s: POST %s (client_id %s, needed for %s): HTTP %d %s: %s (hint: %s)",
			o.org, o.tokenURL, o.clientID, endpoint, resp.StatusCode, code, desc, o.hint(code))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return false, collectors.Retryable(msg)
		}
		return false, collectors.Permanent(msg)
	}
	o.access, o.tokenType = tr.AccessToken, tr.TokenType
	o.expiry = o.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	if tr.ExpiresIn <= 0 {
		o.expiry = o.now().Add(5 * time.Minute)
	}
	return false, nil
}

func (o *oauthClient) hint(code string) string {
	switch code {
	case "invalid_dpop_proof":
		return "the app requires DPoP proofs and refused this one; keep `dpop: true` (the default) and check the host clock"
	case "invalid_client":
		return "check client_id, that private_key matches the public key registered on the app (and private_key_id its kid), and that the app uses public-key client authentication"
	case "invalid_scope":
		return fmt.Sprintf("grant the service app the scopes %s under Okta API Scopes, or narrow `evidence`/`scopes`", strings.Join(o.scopes, " "))
	}
	return fmt.Sprintf("grant the service app the scopes %s and the Read-Only Administrator role; check client_id and that private_key matches the app's public key", strings.Join(o.scopes, " "))
}

// authorize sets the Authorization header and, for a DPoP-bound token, a
// fresh proof with the resource server's current nonce.
func (o *oauthClient) authorize(r *http.Request, tok string) error {
	o.mu.Lock()
	typ, nonce := o.tokenType, o.apiNonce
	o.mu.Unlock()
	if !strings.EqualFold(typ, "DPoP") {
		r.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
	p, err := o.proof(r.Method, r.URL, tok, nonce)
	if err != nil {
		return collectors.Permanent(fmt.Errorf("okta: org %s: signing the DPoP proof: %v", o.org, err))
	}
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", p)
	return nil
}

// observe keeps the resource server's nonce: it may rotate it on any response.
func (o *oauthClient) observe(resp *http.Response) {
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		o.mu.Lock()
		o.apiNonce = n
		o.mu.Unlock()
	}
}

// retryable reports whether a refused API request should be sent again: the
// server asked for (another) DPoP nonce, which observe has stored, or the
// token expired early, which is then dropped so the next request gets a new one.
func (o *oauthClient) retryable(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	switch authParam(challenge, "error") {
	case "use_dpop_nonce":
		return resp.Header.Get("DPoP-Nonce") != ""
	case "invalid_token":
		if strings.Contains(authParam(challenge, "error_description"), "expired") {
			o.mu.Lock()
			o.access = ""
			o.mu.Unlock()
			return true
		}
	}
	return false
}
