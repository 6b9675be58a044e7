package awsfake

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Key is a regional digest-signing key pair; ListPublicKeys returns its
// public half (DER, PKCS #1) and fingerprint.
type Key struct {
	Private     *rsa.PrivateKey
	Fingerprint string
	ValidFrom   time.Time
	ValidTo     time.Time
}

// AddKey creates a 2048-bit signing key for region, valid in [from, to).
func (s *Server) AddKey(region string, from, to time.Time) *Key {
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return s.AddKeyPair(region, pk, from, to)
}

// AddKeyPair registers an existing key pair for region.
func (s *Server) AddKeyPair(region string, pk *rsa.PrivateKey, from, to time.Time) *Key {
	der := x509.MarshalPKCS1PublicKey(&pk.PublicKey)
	sum := md5.Sum(der)
	k := &Key{Private: pk, Fingerprint: hex.EncodeToString(sum[:]), ValidFrom: from.UTC(), ValidTo: to.UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[region] = append(s.keys[region], k)
	return k
}

func (s *Server) listPublicKeys(w http.ResponseWriter, in map[string]any, region string) {
	now := s.Now().UTC()
	start, end := now, now
	if v, ok := in["StartTime"]; ok {
		if t, ok := parseEpoch(v); ok {
			start = t
		}
	}
	if v, ok := in["EndTime"]; ok {
		if t, ok := parseEpoch(v); ok {
			end = t
		}
	}
	if start.After(end) {
		writeJSONError(w, http.StatusBadRequest, "InvalidTimeRangeException", "Start time must be before end time.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, k := range s.keys[region] {
		if k.ValidTo.Before(start) || k.ValidFrom.After(end) {
			continue
		}
		out = append(out, map[string]any{
			"Value":             x509.MarshalPKCS1PublicKey(&k.Private.PublicKey), // []byte: base64 on the wire
			"ValidityStartTime": epoch(k.ValidFrom),
			"ValidityEndTime":   epoch(k.ValidTo),
			"Fingerprint":       k.Fingerprint,
		})
	}
	writeJSON(w, map[string]any{"PublicKeyList": out})
}

// DigestFile is one CloudTrail digest file as delivered to S3, with the
// log files it lists.
type DigestFile struct {
	Bucket    string
	Key       string
	Body      []byte // gzip of JSON
	JSON      []byte // uncompressed content
	Signature string // hex; the x-amz-meta-signature metadata
	Start     time.Time
	End       time.Time
	LogFiles  []LogFile
}

// LogFile is one CloudTrail log file ({"Records":[...]}, gzip) as delivered.
type LogFile struct {
	Bucket string
	Key    string
	Body   []byte // gzip
	JSON   []byte // uncompressed; its SHA-256 is the digest's hashValue
}

// digest is the documented digest file structure.
type digest struct {
	AWSAccountID                string    `json:"awsAccountId"`
	DigestStartTime             string    `json:"digestStartTime"`
	DigestEndTime               string    `json:"digestEndTime"`
	DigestS3Bucket              string    `json:"digestS3Bucket"`
	DigestS3Object              string    `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string    `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string    `json:"digestSignatureAlgorithm"`
	NewestEventTime             *string   `json:"newestEventTime"`
	OldestEventTime             *string   `json:"oldestEventTime"`
	PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string   `json:"previousDigestSignature"`
	LogFiles                    []logFile `json:"logFiles"`
}

type logFile struct {
	S3Bucket        string `json:"s3Bucket"`
	S3Object        string `json:"s3Object"`
	HashValue       string `json:"hashValue"`
	HashAlgorithm   string `json:"hashAlgorithm"`
	NewestEventTime string `json:"newestEventTime"`
	OldestEventTime string `json:"oldestEventTime"`
}

// DigestKey returns the documented S3 key of a digest file.
func DigestKey(prefix, account, region, trail, home string, end time.Time) string {
	return OrgDigestKey(prefix, "", account, region, trail, home, end)
}

// OrgDigestKey returns the documented S3 key of a digest file; an
// organisation trail's (orgID set) has the organisation ID after AWSLogs/.
func OrgDigestKey(prefix, orgID, account, region, trail, home string, end time.Time) string {
	end = end.UTC()
	return logsPrefix(prefix, orgID, account) + fmt.Sprintf("CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		region, end.Format("2006/01/02"), account, region, trail, home, end.Format("20060102T150405Z"))
}

// LogFileKey returns the documented S3 key of a log file delivered at t.
func LogFileKey(prefix, orgID, account, region string, t time.Time, unique string) string {
	t = t.UTC()
	return logsPrefix(prefix, orgID, account) + fmt.Sprintf("CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), unique)
}

func logsPrefix(prefix, orgID, account string) string {
	k := "AWSLogs/"
	if orgID != "" {
		k += orgID + "/"
	}
	k += account + "/"
	if prefix != "" {
		k = strings.TrimSuffix(prefix, "/") + "/" + k
	}
	return k
}

// DigestChain builds n hourly digest files of trail t delivered from
// region, the first covering [start, start+1h), each signed with key and
// chained to the one before (to prev when given; otherwise the first is a
// starting digest with null previous fields).
func (s *Server) DigestChain(t Trail, region string, key *Key, start time.Time, n int, prev *DigestFile) []DigestFile {
	return OrgDigestChain("", s.Account, t, region, key, start, n, prev)
}

// OrgDigestChain is DigestChain for account in the organisation orgID
// ("" for an ordinary trail): the digests of an organisation trail for one
// member account, under AWSLogs/<org-id>/<account-id>/.
func OrgDigestChain(orgID, account string, t Trail, region string, key *Key, start time.Time, n int, prev *DigestFile) []DigestFile {
	out := make([]DigestFile, 0, n)
	for i := 0; i < n; i++ {
		from := start.Add(time.Duration(i) * time.Hour).UTC()
		to := from.Add(time.Hour)
		d := digest{
			AWSAccountID:               account,
			DigestStartTime:            from.Format(time.RFC3339),
			DigestEndTime:              to.Format(time.RFC3339),
			DigestS3Bucket:             t.S3BucketName,
			DigestS3Object:             OrgDigestKey(t.S3KeyPrefix, orgID, account, region, t.Name, t.HomeRegion, to),
			DigestPublicKeyFingerprint: key.Fingerprint,
			DigestSignatureAlgorithm:   "SHA256withRSA",
			LogFiles:                   []logFile{},
		}
		var logs []LogFile
		if i%3 != 2 { // every third hour is an 'empty' digest; the others list two log files
			newest, oldest := to.Add(-9*time.Minute).Format(time.RFC3339), from.Add(41*time.Minute).Format(time.RFC3339)
			d.NewestEventTime, d.OldestEventTime = &newest, &oldest
			for j, at := range []time.Time{from.Add(5 * time.Minute), from.Add(35 * time.Minute)} {
				u := sha256.Sum256([]byte(d.DigestS3Object + fmt.Sprint(j)))
				lf := LogFile{Bucket: t.S3BucketName, Key: LogFileKey(t.S3KeyPrefix, orgID, account, region, at, strings.ToUpper(hex.EncodeToString(u[:8])))}
				lf.JSON = logRecords(account, region, at, lf.Key)
				lf.Body = Gzip(lf.JSON)
				h := sha256.Sum256(lf.JSON)
				logs = append(logs, lf)
				d.LogFiles = append(d.LogFiles, logFile{
					S3Bucket: t.S3BucketName, S3Object: lf.Key, HashValue: hex.EncodeToString(h[:]), HashAlgorithm: "SHA-256",
					NewestEventTime: newest, OldestEventTime: oldest,
				})
			}
		}
		if prev != nil {
			ph := sha256.Sum256(prev.JSON)
			b, o, hv, ha, sg := prev.Bucket, prev.Key, hex.EncodeToString(ph[:]), "SHA-256", prev.Signature
			d.PreviousDigestS3Bucket, d.PreviousDigestS3Object, d.PreviousDigestHashValue, d.PreviousDigestHashAlgorithm, d.PreviousDigestSignature = &b, &o, &hv, &ha, &sg
		}
		js, _ := json.MarshalIndent(d, "", "  ")
		f := DigestFile{Bucket: t.S3BucketName, Key: d.DigestS3Object, JSON: js, Start: from, End: to, LogFiles: logs}
		f.Signature = SignDigest(key, to, f.Bucket+"/"+f.Key, js, d.PreviousDigestSignature)
		f.Body = Gzip(js)
		out = append(out, f)
		prev = &out[len(out)-1]
	}
	return out
}

// SignDigest signs a digest the way CloudTrail documents it: SHA256withRSA
// over "end\nbucket/key\nhex(sha256(content))\nprevious-signature".
func SignDigest(key *Key, end time.Time, path string, content []byte, prevSig *string) string {
	h := sha256.Sum256(content)
	prev := "null"
	if prevSig != nil {
		prev = *prevSig
	}
	data := end.UTC().Format(time.RFC3339) + "\n" + path + "\n" + hex.EncodeToString(h[:]) + "\n" + prev
	sum := sha256.Sum256([]byte(data))
	sig, err := rsa.SignPKCS1v15(nil, key.Private, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(sig)
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// logRecords is a log file in the documented shape, one record.
func logRecords(account, region string, at time.Time, key string) []byte {
	id := sha256.Sum256([]byte(key))
	x := hex.EncodeToString(id[:16])
	rec := map[string]any{"Records": []map[string]any{{
		"eventVersion": "1.08", "eventTime": at.UTC().Format(time.RFC3339), "eventSource": "iam.amazonaws.com", "eventName": "ListUsers",
		"awsRegion": region, "sourceIPAddress": "192.0.2.10", "userAgent": "aws-cli/2.13.0", "readOnly": true,
		"eventID":   x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32],
		"eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account, "eventCategory": "Management",
		"userIdentity": map[string]any{"type": "IAMUser", "accountId": account, "userName": "admin", "arn": "arn:aws:iam::" + account + ":user/admin"},
	}}}
	b, _ := json.Marshal(rec)
	return b
}

// Upload stores digest files in S3 with their signature metadata, and the
// log files they list, as CloudTrail delivers them (a DigestFile without
// a Key uploads its log files only).
func Upload(ctx context.Context, c *s3.Client, files []DigestFile) error {
	for _, f := range files {
		for _, l := range f.LogFiles {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(l.Bucket), Key: aws.String(l.Key), Body: bytes.NewReader(l.Body),
				ContentType: aws.String("application/json"), ContentEncoding: aws.String("gzip"),
			}); err != nil {
				return fmt.Errorf("uploading %s: %w", l.Key, err)
			}
		}
		if f.Key == "" {
			continue // log files only
		}
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body),
			ContentType: aws.String("application/json"), ContentEncoding: aws.String("gzip"),
			Metadata: map[string]string{"signature": f.Signature, "signature-algorithm": "SHA256withRSA"},
		})
		if err != nil {
			return fmt.Errorf("uploading %s: %w", f.Key, err)
		}
	}
	return nil
}
