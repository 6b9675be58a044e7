package aws

import "github.com/tickmark-dev/tickmark/collectors"

// Where the population items of each evidence type are (see
// collectors.ItemLayout): `tickmark population` and the checks read them.
func init() {
	collectors.RegisterItems(TypeEvents, collectors.ItemLayout{
		Path: "events", Key: []string{"EventId"},
		Fields: []string{"EventTime", "EventName", "Username", "EventSource"},
		Time:   []string{"EventTime"},
	})
	collectors.RegisterItems(TypeTrails, collectors.ItemLayout{
		Path: "trails", Key: []string{"trail_arn", "name"}, Snapshot: true,
		Fields: []string{"name", "home_region", "log_file_validation_enabled"},
		Known: []string{"name", "trail_arn", "home_region", "is_multi_region_trail", "is_organization_trail", "include_global_service_events",
			"log_file_validation_enabled", "s3_bucket_name", "s3_key_prefix", "kms_key_id", "cloudwatch_logs_log_group_arn", "cloudwatch_logs_role_arn",
			"sns_topic_arn", "has_custom_event_selectors", "has_insight_selectors", "status", "event_selectors", "advanced_event_selectors", "findings"},
	})
	// The report's rows; its JSON summary (same type) is not a list.
	collectors.RegisterItems(TypeCredentialReport, collectors.ItemLayout{
		Key: []string{"arn"}, ContentType: "text/csv", Snapshot: true,
		Fields: []string{"user", "password_enabled", "mfa_active", "access_key_1_active"},
		Known: []string{"user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed", "password_next_rotation",
			"mfa_active", "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date", "access_key_1_last_used_region",
			"access_key_1_last_used_service", "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
			"access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"},
	})
	collectors.RegisterItems(TypeDigests, collectors.ItemLayout{
		Path: "digests", Key: []string{"s3_key"},
		Fields: []string{"digest_end_time", "signature_valid", "chain", "valid"},
		Known: []string{"s3_key", "digest_start_time", "digest_end_time", "signature", "signature_algorithm", "sha256_uncompressed",
			"public_key_fingerprint", "log_files", "signature_valid", "chain", "valid", "failures", "content"},
	})
}
