package okta

// Factor classification: what an enrolled factor proves. Okta reports a
// factor's factorType and provider; the class follows NIST SP 800-63B:
// something you know (knowledge), have (possession) or are (inherence), and
// whether it resists phishing (verifier-bound: WebAuthn/FIDO2, U2F, Okta
// Verify FastPass, smart cards). One-time codes sent by SMS, voice call or
// email are "restricted" (800-63B 5.1.3.3; email is not an authenticator
// there at all): they are listed but do not make a user MFA-enrolled.

type factorClass struct {
	Category          string `json:"category"` // knowledge, possession, inherence or unknown
	PhishingResistant bool   `json:"phishing_resistant"`
	Restricted        bool   `json:"restricted,omitempty"` // SMS, voice or email codes
	CountsAsMFA       bool   `json:"counts_as_mfa"`
}

// classify maps an Okta factorType (and provider) to its class.
func classify(factorType, provider string) factorClass {
	switch factorType {
	case "question", "password":
		return factorClass{Category: "knowledge"}
	case "sms", "call", "email":
		return factorClass{Category: "possession", Restricted: true}
	case "webauthn", "u2f":
		return factorClass{Category: "possession", PhishingResistant: true, CountsAsMFA: true}
	case "signed_nonce": // Okta Verify with FastPass
		return factorClass{Category: "possession", PhishingResistant: true, CountsAsMFA: true}
	case "x509", "smart_card": // PIV/CAC smart card
		return factorClass{Category: "possession", PhishingResistant: true, CountsAsMFA: true}
	case "push", "token", "token:software:totp", "token:hotp", "token:hardware", "web":
		return factorClass{Category: "possession", CountsAsMFA: true}
	}
	return factorClass{Category: "unknown"}
}

// authenticatorClass classifies an Identity Engine authenticator by key.
func authenticatorClass(key string) factorClass {
	switch key {
	case "okta_password", "security_question":
		return factorClass{Category: "knowledge"}
	case "phone_number", "okta_email":
		return factorClass{Category: "possession", Restricted: true}
	case "webauthn", "smart_card_idp", "yubikey_token":
		return factorClass{Category: "possession", PhishingResistant: key != "yubikey_token", CountsAsMFA: true}
	case "okta_verify", "google_otp", "rsa_token", "symantec_vip", "duo", "custom_otp", "custom_app", "onprem_mfa":
		// Okta Verify is phishing-resistant only with FastPass, which Okta
		// reports per enrollment (factorType signed_nonce), not per authenticator.
		return factorClass{Category: "possession", CountsAsMFA: true}
	}
	return factorClass{Category: "unknown"}
}
