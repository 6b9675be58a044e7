package oktafake

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ReadScopes are the OAuth 2.0 scopes a read-only service app can be granted.
var ReadScopes = []string{"okta.apiTokens.read", "okta.apps.read", "okta.authenticators.read", "okta.groups.read", "okta.logs.read", "okta.policies.read", "okta.roles.read", "okta.users.read"}

// scopeFor is the OAuth 2.0 scope an API path needs.
func scopeFor(path string) string {
	switch fam := Family(path); {
	case fam == "api-tokens":
		return "okta.apiTokens.read"
	case fam == "authenticators":
		return "okta.authenticators.read"
	case strings.Contains(path, "/roles"), fam == "iam", strings.HasPrefix(path, "/oauth2/v1/clients/"):
		return "okta.roles.read"
	case strings.HasSuffix(path, "/apps"), strings.HasPrefix(fam, "apps"):
		return "okta.apps.read"
	case strings.HasPrefix(fam, "groups"):
		return "okta.groups.read"
	case fam == "logs":
		return "okta.logs.read"
	case fam == "policies":
		return "okta.policies.read"
	}
	return "okta.users.read"
}

// accessToken is an issued access token.
type accessToken struct {
	scopes []string
	jkt    string // JWK SHA-256 thumbprint of the DPoP key it is bound to ("" = Bearer)
	expiry time.Time
}

// OAuthStats counts the OAuth 2.0 and DPoP outcomes.
type OAuthStats struct {
	TokensIssued  int
	NonceRequired int            // use_dpop_nonce answers (token endpoint and resources)
	Rejected      map[string]int // refused proofs and tokens by reason
}

// RotateNonce makes the current DPoP nonces stale, as Okta does
// periodically: the next proof carrying the old nonce is answered with
// use_dpop_nonce and a new DPoP-Nonce.
func (s *Server) RotateNonce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonceGen++
}

// ExpireTokens makes every access token issued so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		t.expiry = time.Now().Add(-time.Second)
		s.tokens[k] = t
	}
}

// OAuth returns a copy of the OAuth counters.
func (s *Server) OAuth() OAuthStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauth
	o.Rejected = maps.Clone(s.oauth.Rejected)
	return o
}

func (s *Server) nonce(kind string) string {
	return fmt.Sprintf("fake-%s-nonce-%d", kind, s.nonceGen)
}

func (s *Server) reject(reason string) {
	if s.oauth.Rejected == nil {
		s.oauth.Rejected = map[string]int{}
	}
	s.oauth.Rejected[reason]++
}

// checkProof verifies a DPoP proof (RFC 9449 section 4.3) for the request:
// one DPoP header, a JWS of typ dpop+jwt with an asymmetric alg, signed by
// the public JWK in its header; htm and htu matching the request; iat
// within a minute; a jti never seen before; the current nonce; ath over
// the access token when one is presented. It returns the JWK thumbprint.
// Called with s.mu held.
func (s *Server) checkProof(r *http.Request, kind, accessToken string) (jkt, code, desc string) {
	vals := r.Header.Values("DPoP")
	if len(vals) != 1 {
		s.reject("missing proof")
		return "", "invalid_dpop_proof", "The DPoP proof JWT header is missing."
	}
	tok, err := jwt.ParseSigned(vals[0], []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 {
		s.reject("malformed proof")
		return "", "invalid_dpop_proof", "The DPoP proof is not a valid JWT."
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		s.reject("typ")
		return "", "invalid_dpop_proof", "The DPoP proof typ must be dpop+jwt."
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		s.reject("jwk")
		return "", "invalid_dpop_proof", "The DPoP proof must carry a public jwk."
	}
	var c struct {
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		JTI   string `json:"jti"`
		ATH   string `json:"ath"`
		Nonce string `json:"nonce"`
	}
	if err := tok.Claims(h.JSONWebKey.Key, &c); err != nil {
		s.reject("signature")
		return "", "invalid_dpop_proof", "The DPoP proof signature is invalid."
	}
	want := "http://" + r.Host + r.URL.Path
	iat := time.Unix(c.IAT, 0)
	switch {
	case c.HTM != r.Method:
		s.reject("htm")
		return "", "invalid_dpop_proof", "The DPoP proof htm does not match the request method."
	case c.HTU != want:
		s.reject("htu")
		return "", "invalid_dpop_proof", "The DPoP proof htu does not match the request URL."
	case time.Since(iat) > time.Minute || time.Until(iat) > time.Minute:
		s.reject("iat")
		return "", "invalid_dpop_proof", "The DPoP proof iat is not recent."
	case c.JTI == "":
		s.reject("jti")
		return "", "invalid_dpop_proof", "The DPoP proof has no jti."
	case s.jtis[c.JTI]:
		s.reject("replay")
		return "", "invalid_dpop_proof", "The DPoP proof was already used."
	}
	s.jtis[c.JTI] = true
	if kind == "rs" {
		s.rsProofs++
		if n := s.opts.RotateNonceEvery; n > 0 && s.rsProofs%n == 0 {
			s.nonceGen++
		}
	}
	if c.Nonce != s.nonce(kind) {
		s.oauth.NonceRequired++
		return "", "use_dpop_nonce", "Authorization server requires nonce in DPoP proof."
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			s.reject("ath")
			return "", "invalid_dpop_proof", "The DPoP proof ath does not match the access token."
		}
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		s.reject("jwk")
		return "", "invalid_dpop_proof", "The DPoP proof jwk has no thumbprint."
	}
	return base64.RawURLEncoding.EncodeToString(tp), "", ""
}

// token answers POST /oauth2/v1/token for a service app using
// private_key_jwt client authentication (grant_type=client_credentials).
// An app that requires DPoP (the default, as for new Okta API Services
// apps) refuses a request without a proof (invalid_dpop_proof) and first
// answers use_dpop_nonce with a DPoP-Nonce header; the token is then of
// type DPoP, bound to the proof's key.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	oauthErr := func(status int, code, desc string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts POST only.")
		return
	}
	if r.Form.Get("grant_type") != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	if r.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed: client_assertion_type must be jwt-bearer.")
		return
	}
	if err := s.checkAssertion(r, r.Form.Get("client_assertion")); err != nil {
		oauthErr(http.StatusUnauthorized, "invalid_client", "The client_assertion is invalid: "+err.Error())
		return
	}
	s.mu.Lock()
	jkt := ""
	if s.opts.BearerOnly {
		if r.Header.Get("DPoP") != "" {
			s.mu.Unlock()
			oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "DPoP proof JWT is not allowed for this client.")
			return
		}
	} else {
		var code, desc string
		jkt, code, desc = s.checkProof(r, "as", "")
		if code != "" {
			if code == "use_dpop_nonce" {
				w.Header().Set("DPoP-Nonce", s.nonce("as"))
			}
			s.mu.Unlock()
			oauthErr(http.StatusBadRequest, code, desc)
			return
		}
	}
	s.mu.Unlock()
	scopes := strings.Fields(r.Form.Get("scope"))
	var refused []string
	for _, sc := range scopes {
		if !slices.Contains(s.opts.GrantedScopes, sc) {
			refused = append(refused, sc)
		}
	}
	if len(scopes) == 0 || len(refused) > 0 {
		oauthErr(http.StatusBadRequest, "invalid_scope", "The following scopes are not allowed: "+strings.Join(refused, ", "))
		return
	}
	s.mu.Lock()
	s.oauth.TokensIssued++
	tok := fmt.Sprintf("fake-access-token-%d", len(s.tokens)+1)
	life := s.opts.TokenLifetime
	if life <= 0 {
		life = time.Hour
	}
	s.tokens[tok] = accessToken{scopes: scopes, jkt: jkt, expiry: time.Now().Add(life)}
	s.mu.Unlock()
	typ := "DPoP"
	if jkt == "" {
		typ = "Bearer"
	}
	writeJSON(w, map[string]any{"token_type": typ, "expires_in": int(life.Seconds()), "access_token": tok, "scope": strings.Join(scopes, " ")})
}

// checkAssertion verifies the client assertion: a JWT issued by and about
// the client, for this token endpoint, unexpired, and signed by the
// configured public key when there is one.
func (s *Server) checkAssertion(r *http.Request, assertion string) error {
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512})
	if err != nil {
		return fmt.Errorf("not a JWT signed with RS256/384/512 or ES256/384/512")
	}
	var c jwt.Claims
	if s.opts.PublicKey != nil {
		if err := tok.Claims(s.opts.PublicKey, &c); err != nil {
			return fmt.Errorf("bad signature")
		}
	} else if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return fmt.Errorf("undecodable claims")
	}
	switch {
	case c.Issuer != s.opts.ClientID || c.Subject != s.opts.ClientID:
		return fmt.Errorf("unknown client")
	case c.Validate(jwt.Expected{AnyAudience: jwt.Audience{"http://" + r.Host + "/oauth2/v1/token"}}) != nil:
		return fmt.Errorf("wrong audience or expired")
	case c.ID == "":
		return fmt.Errorf("no jti")
	}
	return nil
}

// authorize checks the Authorization header: the SSWS token, a DPoP-bound
// access token with a valid proof of the same key, or a Bearer token,
// holding the scope the path needs. It writes the error and returns false
// when the request is refused.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if auth == "SSWS "+s.opts.Token {
		return true
	}
	scheme, at, _ := strings.Cut(auth, " ")
	if scheme != "DPoP" && scheme != "Bearer" {
		writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return false
	}
	challenge := func(code, desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s error="%s", error_description="%s"`, scheme, code, desc))
		writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
	}
	s.mu.Lock()
	t, known := s.tokens[at]
	if !known {
		s.mu.Unlock()
		challenge("invalid_token", "The access token is invalid.")
		return false
	}
	if time.Now().After(t.expiry) {
		s.reject("expired token")
		s.mu.Unlock()
		challenge("invalid_token", "The access token is expired.")
		return false
	}
	if (t.jkt != "") != (scheme == "DPoP") {
		s.reject("scheme")
		s.mu.Unlock()
		challenge("invalid_token", "The token type does not match the authorization scheme.")
		return false
	}
	if t.jkt != "" {
		jkt, code, desc := s.checkProof(r, "rs", at)
		if code == "use_dpop_nonce" {
			w.Header().Set("DPoP-Nonce", s.nonce("rs"))
			desc = "Resource server requires nonce in DPoP proof."
		}
		if code == "" && jkt != t.jkt {
			s.reject("key mismatch")
			code, desc = "invalid_dpop_proof", "The DPoP proof key does not match the access token."
		}
		if code != "" {
			s.mu.Unlock()
			challenge(code, desc)
			return false
		}
	}
	s.mu.Unlock()
	need := scopeFor(r.URL.Path)
	if slices.Contains(t.scopes, need) {
		return true
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s authorization_uri="http://%s/oauth2/v1/authorize", realm="http://%s", scope="%s", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="%s"`, scheme, r.Host, r.Host, need, r.URL.Path))
	writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
	return false
}
