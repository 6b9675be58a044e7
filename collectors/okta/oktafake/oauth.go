package oktafake

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ReadScopes are the OAuth 2.0 scopes a read-only service app can be granted.
var ReadScopes = []string{"okta.apps.read", "okta.groups.read", "okta.logs.read", "okta.policies.read", "okta.roles.read", "okta.users.read"}

// scopeFor is the OAuth 2.0 scope an API path needs.
func scopeFor(path string) string {
	switch fam := Family(path); {
	case strings.HasSuffix(path, "/roles"), fam == "iam":
		return "okta.roles.read"
	case strings.HasSuffix(path, "/apps"), fam == "apps":
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

// token answers POST /oauth2/v1/token for a service app using
// private_key_jwt client authentication (grant_type=client_credentials).
// The parameters may come in the query (as the Okta Go SDK sends them) or a
// form body.
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
	if err := s.checkAssertion(r, r.Form.Get("client_assertion")); err != nil {
		oauthErr(http.StatusUnauthorized, "invalid_client", "The client_assertion is invalid: "+err.Error())
		return
	}
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
	tok := fmt.Sprintf("fake-access-token-%d", len(s.tokens)+1)
	s.tokens[tok] = scopes
	s.mu.Unlock()
	writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok, "scope": strings.Join(scopes, " ")})
}

// checkAssertion verifies the client assertion: an RS256 JWT issued by and
// about the client, for this token endpoint, unexpired, and signed by the
// configured public key when there is one.
func (s *Server) checkAssertion(r *http.Request, jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss, Sub, Aud string
		Exp           int64
	}
	for i, v := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			return fmt.Errorf("undecodable JWT")
		}
	}
	switch {
	case hdr.Alg != "RS256":
		return fmt.Errorf("alg %s is not RS256", hdr.Alg)
	case claims.Iss != s.opts.ClientID || claims.Sub != s.opts.ClientID:
		return fmt.Errorf("unknown client")
	case claims.Aud != "http://"+r.Host+"/oauth2/v1/token":
		return fmt.Errorf("wrong audience")
	case time.Unix(claims.Exp, 0).Before(time.Now()):
		return fmt.Errorf("expired")
	}
	if s.opts.PublicKey != nil {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return fmt.Errorf("undecodable signature")
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(s.opts.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			return fmt.Errorf("bad signature")
		}
	}
	return nil
}

// authorize checks the Authorization header: the SSWS token, or a Bearer
// access token holding the scope the path needs. It writes the error and
// returns false when the request is refused.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if auth == "SSWS "+s.opts.Token {
		return true
	}
	if at, ok := strings.CutPrefix(auth, "Bearer "); ok {
		s.mu.Lock()
		scopes, known := s.tokens[at]
		s.mu.Unlock()
		if known {
			need := scopeFor(r.URL.Path)
			if slices.Contains(scopes, need) {
				return true
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="http://%s/oauth2/v1/authorize", realm="http://%s", scope="%s", error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", resource="%s"`, r.Host, r.Host, need, r.URL.Path))
			writeError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
			return false
		}
	}
	writeError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
	return false
}
