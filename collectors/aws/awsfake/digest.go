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

// DigestFile is one CloudTrail digest file as delivered to S3.
type DigestFile struct {
	Bucket    string
	Key       string
	Body      []byte // gzip of JSON
	JSON      []byte // uncompressed content
	Signature string // hex; the x-amz-meta-signature metadata
	Start     time.Time
	End       time.Time
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
	end = end.UTC()
	k := fmt.Sprintf("AWSLogs/%s/CloudTrail-Digest/%s/%s/%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz",
		account, region, end.Format("2006/01/02"), account, region, trail, home, end.Format("20060102T150405Z"))
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
	out := make([]DigestFile, 0, n)
	for i := 0; i < n; i++ {
		from := start.Add(time.Duration(i) * time.Hour).UTC()
		to := from.Add(time.Hour)
		d := digest{
			AWSAccountID:               s.Account,
			DigestStartTime:            from.Format(time.RFC3339),
			DigestEndTime:              to.Format(time.RFC3339),
			DigestS3Bucket:             t.S3BucketName,
			DigestS3Object:             DigestKey(t.S3KeyPrefix, s.Account, region, t.Name, t.HomeRegion, to),
			DigestPublicKeyFingerprint: key.Fingerprint,
			DigestSignatureAlgorithm:   "SHA256withRSA",
			LogFiles:                   []logFile{},
		}
		if i%3 != 2 { // every third hour is an 'empty' digest
			newest, oldest := to.Add(-9*time.Minute).Format(time.RFC3339), from.Add(41*time.Minute).Format(time.RFC3339)
			d.NewestEventTime, d.OldestEventTime = &newest, &oldest
			h := sha256.Sum256([]byte(d.DigestS3Object))
			d.LogFiles = append(d.LogFiles, logFile{
				S3Bucket:        t.S3BucketName,
				S3Object:        strings.Replace(strings.Replace(d.DigestS3Object, "CloudTrail-Digest", "CloudTrail", 2), ".json.gz", "_"+hex.EncodeToString(h[:4])+".json.gz", 1),
				HashValue:       hex.EncodeToString(h[:]),
				HashAlgorithm:   "SHA-256",
				NewestEventTime: newest, OldestEventTime: oldest,
			})
		}
		if prev != nil {
			ph := sha256.Sum256(prev.JSON)
			b, o, hv, ha, sg := prev.Bucket, prev.Key, hex.EncodeToString(ph[:]), "SHA-256", prev.Signature
			d.PreviousDigestS3Bucket, d.PreviousDigestS3Object, d.PreviousDigestHashValue, d.PreviousDigestHashAlgorithm, d.PreviousDigestSignature = &b, &o, &hv, &ha, &sg
		}
		js, _ := json.MarshalIndent(d, "", "  ")
		f := DigestFile{Bucket: t.S3BucketName, Key: d.DigestS3Object, JSON: js, Start: from, End: to}
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

// Upload stores digest files in S3 with their signature metadata, as
// CloudTrail delivers them.
func Upload(ctx context.Context, c *s3.Client, files []DigestFile) error {
	for _, f := range files {
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
