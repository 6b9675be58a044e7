package okta

import "github.com/tickmark-dev/tickmark/collectors"

// Where the population items of each evidence type are (see
// collectors.ItemLayout): `tickmark population` and the checks read them.
func init() {
	collectors.RegisterItems(TypeUsers, collectors.ItemLayout{
		Path: "users", Key: []string{"id"}, Snapshot: true,
		Fields: []string{"login", "status", "created", "lastLogin", "mfa_enrolled", "phishing_resistant"},
		Known:  []string{"id", "login", "status", "created", "activated", "statusChanged", "lastLogin", "passwordChanged", "lastUpdated", "mfa_enrolled", "phishing_resistant", "factors", "factors_note"},
	})
	collectors.RegisterItems(TypeDeprovisioned, collectors.ItemLayout{
		Path: "users", Key: []string{"id"},
		Fields: []string{"login", "status", "statusChanged", "event_type", "actor.alternateId"},
		Known:  []string{"id", "login", "status", "statusChanged", "event_uuid", "event_type", "at", "actor", "late", "note"},
		Time:   []string{"at", "statusChanged"},
	})
	collectors.RegisterItems(TypeGroups, collectors.ItemLayout{
		Path: "members", Key: []string{"id"}, WithSubject: true, Snapshot: true,
		Fields: []string{"login", "status"},
		Known:  []string{"id", "login", "status"},
	})
	collectors.RegisterItems(TypeAppAssignments, collectors.ItemLayout{
		Path: "assignments", Key: []string{"user_id"}, WithSubject: true, Snapshot: true,
		Fields: []string{"user_name", "source", "group_id", "status"},
		Known:  []string{"user_id", "user_name", "source", "group_id", "status", "created"},
	})
	collectors.RegisterItems(TypeAuthenticators, collectors.ItemLayout{
		Path: "authenticators", Key: []string{"key"}, Snapshot: true,
		Fields: []string{"status", "category", "phishing_resistant", "counts_as_mfa"},
		Known:  []string{"authenticator", "key", "status", "category", "phishing_resistant", "restricted", "counts_as_mfa"},
	})
	collectors.RegisterItems(TypeAdmins, collectors.ItemLayout{
		Path: "users", Key: []string{"id"}, Snapshot: true,
		Fields: []string{"login", "status", "roles"},
		Known:  []string{"id", "login", "status", "roles"},
	})
	collectors.RegisterItems(TypePolicies, collectors.ItemLayout{
		Path: "policies", Key: []string{"policy.id"}, Snapshot: true,
		Fields: []string{"policy.name", "policy.type", "policy.status", "policy.priority"},
		Known:  []string{"policy", "rules"},
	})
	collectors.RegisterItems(TypeSystemLog, collectors.ItemLayout{
		Key:    []string{"uuid"},
		Fields: []string{"published", "eventType", "actor.alternateId", "outcome.result"},
		Time:   []string{"published"},
	})
}
