package aws

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tickmark-dev/tickmark/collectors"
)

// digestCursor is where the digest chain of one trail in one region was
// left: the last digest file read, its signature and hash, so the next run
// checks that the chain continues from it.
type digestCursor struct {
	End string `json:"end"`
	Key string `json:"key"`
	Sig string `json:"sig"`
	SHA string `json:"sha256"`
}

// digestFile is the documented digest file structure (the fields we check).
type digestFile struct {
	AWSAccountID                string          `json:"awsAccountId"`
	DigestStartTime             string          `json:"digestStartTime"`
	DigestEndTime               string          `json:"digestEndTime"`
	DigestS3Bucket              string          `json:"digestS3Bucket"`
	DigestS3Object              string          `json:"digestS3Object"`
	DigestPublicKeyFingerprint  string          `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm    string          `json:"digestSignatureAlgorithm"`
	PreviousDigestS3Bucket      *string         `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string         `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string         `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string         `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string         `json:"previousDigestSignature"`
	LogFiles                    []digestLogFile `json:"logFiles"`
}

type digestLogFile struct {
	S3Bucket      string `json:"s3Bucket"`
	S3Object      string `json:"s3Object"`
	HashValue     string `json:"hashValue"`
	HashAlgorithm string `json:"hashAlgorithm"`
}

// digestResult is what the artifact records for one digest file.
type digestResult struct {
	Key                string   `json:"s3_key"`
	DigestStartTime    string   `json:"digest_start_time,omitempty"`
	DigestEndTime      string   `json:"digest_end_time"`
	Signature          string   `json:"signature"`           // hex, from x-amz-meta-signature
	SignatureAlgorithm string   `json:"signature_algorithm"` // from x-amz-meta-signature-algorithm
	SHA256             string   `json:"sha256_uncompressed"`
	KeyFingerprint     string   `json:"public_key_fingerprint,omitempty"`
	LogFiles           int      `json:"log_files"`
	SignatureValid     bool     `json:"signature_valid"`
	Chain              string   `json:"chain"` // "linked", "start", "unchecked", "broken"
	Valid              bool     `json:"valid"`
	Failures           []string `json:"failures"`
	Content            string   `json:"content,omitempty"` // the uncompressed digest file, byte for byte

	logs    []digestLogFile
	account string
}

type publicKeyDoc struct {
	Fingerprint string `json:"fingerprint"`
	ValueBase64 string `json:"value_der_base64"`
	ValidFrom   string `json:"validity_start_time,omitempty"`
	ValidTo     string `json:"validity_end_time,omitempty"`
	key         *rsa.PublicKey
}

const maxDigestSize = 16 << 20

var digestTimeRE = regexp.MustCompile(`_(\d{8}T\d{6}Z)\.json\.gz$`)

// collectDigests validates the digest files of every trail with log file
// validation, per region the trail records, from where the last run left
// off (or the backfill start) to the run's clock. One artifact per trail,
// region and day. Organisation trails are validated per member account
// from the log-archive bucket (log_archive:), not here.
func (r *run) collectDigests(ctx context.Context, trails []trailInfo) error {
	for _, ti := range trails {
		t := ti.Trail
		if !aws.ToBool(t.LogFileValidationEnabled) || aws.ToString(t.S3BucketName) == "" {
			continue
		}
		if aws.ToBool(t.IsOrganizationTrail) {
			r.req.Logger.Info("organization trail digests live under AWSLogs/<org-id>/<account-id>/ in the log-archive bucket; configure log_archive to validate them", "evidence_type", TypeDigests, "trail", aws.ToString(t.TrailARN))
			continue
		}
		home := aws.ToString(t.HomeRegion)
		bucket := aws.ToString(t.S3BucketName)
		s3c := r.s3(r.bucketRegion(ctx, bucket, home))
		for _, region := range trailRegions(t, r.regions) {
			tgt := digestTarget{arn: aws.ToString(t.TrailARN), name: aws.ToString(t.Name), home: home, bucket: bucket,
				prefix: aws.ToString(t.S3KeyPrefix), region: region, s3c: s3c}
			if err := r.trailDigests(ctx, tgt); err != nil {
				return err
			}
		}
	}
	return nil
}

// trailRegions are the regions whose digests a trail writes, of those collected.
func trailRegions(t cttypes.Trail, collected []string) []string {
	home := aws.ToString(t.HomeRegion)
	regions := []string{home}
	if aws.ToBool(t.IsMultiRegionTrail) {
		regions = append([]string{}, collected...)
		if !containsStr(regions, home) {
			regions = append(regions, home)
		}
		sort.Strings(regions)
	}
	return regions
}

type listedDigest struct {
	key string
	end time.Time
}

// digestTarget is the digest chain of one trail, account and region.
type digestTarget struct {
	arn, name, home, bucket, prefix, region string
	orgID                                   string // organisation trail: AWSLogs/<org-id>/<account-id>/
	s3c                                     *s3.Client
}

// logsBase is the key prefix of the account's CloudTrail files.
func (t digestTarget) logsBase(account string) string {
	base := "AWSLogs/"
	if t.orgID != "" {
		base += t.orgID + "/"
	}
	base += account + "/"
	if t.prefix != "" {
		base = strings.TrimSuffix(t.prefix, "/") + "/" + base
	}
	return base
}

func (r *run) trailDigests(ctx context.Context, tgt digestTarget) error {
	arn, name, home, bucket, region := tgt.arn, tgt.name, tgt.home, tgt.bucket, tgt.region
	ck := arn + "|" + region
	if tgt.orgID != "" {
		ck = arn + "|" + r.account + "|" + region
	}
	r.mu.Lock()
	prev := r.cur.Digests[ck]
	r.mu.Unlock()
	from := r.req.Since.UTC()
	if prev != nil {
		from = parseTS(prev.End)
	}
	to := r.req.Now.UTC()
	if !to.After(from) {
		return nil
	}
	s3c := tgt.s3c
	base := tgt.logsBase(r.account) + "CloudTrail-Digest/" + region + "/"
	marker := fmt.Sprintf("_CloudTrail-Digest_%s_%s_%s_", region, name, home)
	var keys []*publicKeyDoc
	keysLoaded := false
	lc := &logChecker{r: r, tgt: tgt, listed: map[string]map[string]bool{}}
	for day := from.Truncate(24 * time.Hour); !day.After(to); day = day.Add(24 * time.Hour) {
		var files []listedDigest
		p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(base + day.Format("2006/01/02/"))})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return r.fail(ctx, "s3:ListBucket", "s3://"+bucket+"/"+base+day.Format("2006/01/02/"), err)
			}
			for _, o := range out.Contents {
				k := aws.ToString(o.Key)
				m := digestTimeRE.FindStringSubmatch(k)
				if m == nil || !strings.Contains(k, marker) {
					continue
				}
				end, err := time.Parse("20060102T150405Z", m[1])
				if err != nil || !end.After(from) || end.After(to) {
					continue
				}
				files = append(files, listedDigest{k, end})
			}
		}
		if len(files) == 0 {
			continue
		}
		sort.Slice(files, func(i, j int) bool {
			return files[i].end.Before(files[j].end) || files[i].end.Equal(files[j].end) && files[i].key < files[j].key
		})
		if !keysLoaded {
			var err error
			if keys, err = r.publicKeys(ctx, region, from, to); err != nil {
				return err
			}
			keysLoaded = true
		}
		var results []digestResult
		used := map[string]bool{}
		for _, f := range files {
			res, err := r.checkDigest(ctx, s3c, bucket, f, keys, prev)
			if err != nil {
				return err
			}
			if res.KeyFingerprint != "" {
				used[res.KeyFingerprint] = true
			}
			results = append(results, res)
			prev = &digestCursor{End: ts(f.end), Key: f.key, Sig: res.Signature, SHA: res.SHA256}
		}
		logs, err := lc.check(ctx, day, results)
		if err != nil {
			return err
		}
		art := r.digestArtifact(tgt, day, results, keys, used, logs)
		next := *prev
		if err := r.emitAndCheckpoint(ctx, []collectors.Artifact{art}, func(c *cursor) { c.Digests[ck] = &next }); err != nil {
			return err
		}
	}
	return nil
}

// bucketRegion finds the region of a trail's bucket (it need not be the
// trail's home region); with an endpoint override, or when HeadBucket is not
// allowed, the home region is used.
func (r *run) bucketRegion(ctx context.Context, bucket, home string) string {
	if r.cfg.Endpoint != "" {
		return home
	}
	out, err := r.s3(home).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err != nil || aws.ToString(out.BucketRegion) == "" {
		return home
	}
	return aws.ToString(out.BucketRegion)
}

func (r *run) publicKeys(ctx context.Context, region string, from, to time.Time) ([]*publicKeyDoc, error) {
	var out []*publicKeyDoc
	p := cloudtrail.NewListPublicKeysPaginator(r.cloudTrail(region), &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(from), EndTime: aws.Time(to)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, r.fail(ctx, "cloudtrail:ListPublicKeys", region, err)
		}
		for _, k := range page.PublicKeyList {
			d := &publicKeyDoc{Fingerprint: aws.ToString(k.Fingerprint), ValueBase64: base64.StdEncoding.EncodeToString(k.Value),
				ValidFrom: tsp(k.ValidityStartTime), ValidTo: tsp(k.ValidityEndTime)}
			d.key = parseRSAPublicKey(k.Value)
			out = append(out, d)
		}
	}
	return out, nil
}

// parseRSAPublicKey reads the DER value ListPublicKeys returns (PKCS #1,
// as documented; SubjectPublicKeyInfo is accepted too).
func parseRSAPublicKey(der []byte) *rsa.PublicKey {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		if rk, ok := k.(*rsa.PublicKey); ok {
			return rk
		}
	}
	return nil
}

// checkDigest reads one digest file and verifies it. Verification failures
// are results, not errors; only S3 failures are errors.
func (r *run) checkDigest(ctx context.Context, s3c *s3.Client, bucket string, f listedDigest, keys []*publicKeyDoc, prev *digestCursor) (digestResult, error) {
	res := digestResult{Key: f.key}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.key)})
	if err != nil {
		return res, r.fail(ctx, "s3:GetObject", "s3://"+bucket+"/"+f.key, err)
	}
	raw, err := io.ReadAll(io.LimitReader(obj.Body, maxDigestSize+1))
	obj.Body.Close()
	if err != nil {
		return res, r.fail(ctx, "s3:GetObject", "s3://"+bucket+"/"+f.key, err)
	}
	return verifyDigest(bucket, f, raw, obj.Metadata["signature"], obj.Metadata["signature-algorithm"], keys, prev), nil
}

// verifyDigest checks one digest file (raw is the object as stored, gzip)
// against its signature metadata, the public keys and the digest before it.
func verifyDigest(bucket string, f listedDigest, raw []byte, signature, algorithm string, keys []*publicKeyDoc, prev *digestCursor) digestResult {
	res := digestResult{Key: f.key, DigestEndTime: ts(f.end), Failures: []string{}, Chain: "unchecked"}
	res.Signature = signature
	res.SignatureAlgorithm = algorithm
	fail := func(format string, a ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, a...)) }
	content, err := gunzip(raw)
	if err != nil {
		fail("not a gzip file: %v", err)
		content = raw
	}
	res.SHA256 = sha256hex(content)
	res.Content = string(content)
	var d digestFile
	if err := json.Unmarshal(content, &d); err != nil {
		fail("digest file is not valid JSON: %v", err)
		res.Content = ""
		return res
	}
	res.DigestStartTime = d.DigestStartTime
	res.KeyFingerprint = d.DigestPublicKeyFingerprint
	res.LogFiles = len(d.LogFiles)
	res.logs = d.LogFiles
	res.account = d.AWSAccountID
	if d.DigestS3Bucket != bucket || d.DigestS3Object != f.key {
		fail("digest file was moved: it says s3://%s/%s", d.DigestS3Bucket, d.DigestS3Object)
	}
	if d.DigestEndTime != ts(f.end) {
		fail("digestEndTime %s does not match the file name's %s", d.DigestEndTime, ts(f.end))
	}
	// signature
	var pk *publicKeyDoc
	for _, k := range keys {
		if k.Fingerprint == d.DigestPublicKeyFingerprint {
			pk = k
		}
	}
	sig, sigErr := hex.DecodeString(res.Signature)
	switch {
	case res.Signature == "":
		fail("object has no x-amz-meta-signature")
	case sigErr != nil:
		fail("x-amz-meta-signature is not hex")
	case res.SignatureAlgorithm != "" && res.SignatureAlgorithm != "SHA256withRSA":
		fail("unsupported signature algorithm %q", res.SignatureAlgorithm)
	case pk == nil:
		fail("no public key with fingerprint %s from ListPublicKeys for the period", d.DigestPublicKeyFingerprint)
	case pk.key == nil:
		fail("public key %s is not an RSA key", pk.Fingerprint)
	default:
		prevSig := "null"
		if d.PreviousDigestSignature != nil {
			prevSig = *d.PreviousDigestSignature
		}
		toSign := d.DigestEndTime + "\n" + d.DigestS3Bucket + "/" + d.DigestS3Object + "\n" + res.SHA256 + "\n" + prevSig
		h := sha256.Sum256([]byte(toSign))
		if err := rsa.VerifyPKCS1v15(pk.key, crypto.SHA256, h[:], sig); err != nil {
			fail("signature does not verify (SHA256withRSA over the documented string to sign)")
		} else {
			res.SignatureValid = true
		}
	}
	// chain
	switch {
	case d.PreviousDigestS3Object == nil || d.PreviousDigestSignature == nil:
		res.Chain = "start"
		if prev != nil {
			fail("chain restarted: a starting digest follows %s (validation or logging was off in between)", prev.Key)
			res.Chain = "broken"
		}
	case prev == nil:
		res.Chain = "unchecked" // the previous digest is before the collected period
	default:
		res.Chain = "linked"
		if *d.PreviousDigestS3Object != prev.Key {
			fail("chain broken: previous digest is %s, but the last one read was %s", *d.PreviousDigestS3Object, prev.Key)
			res.Chain = "broken"
		} else {
			if prev.Sig != "" && *d.PreviousDigestSignature != prev.Sig {
				fail("chain broken: previousDigestSignature does not match the signature of %s", prev.Key)
				res.Chain = "broken"
			}
			if d.PreviousDigestHashValue != nil && *d.PreviousDigestHashValue != prev.SHA {
				fail("chain broken: previousDigestHashValue does not match the content of %s", prev.Key)
				res.Chain = "broken"
			}
		}
	}
	res.Valid = len(res.Failures) == 0
	return res
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxDigestSize+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDigestSize {
		return nil, fmt.Errorf("larger than %d bytes uncompressed", maxDigestSize)
	}
	return out, nil
}

func (r *run) digestArtifact(tgt digestTarget, day time.Time, results []digestResult, keys []*publicKeyDoc, used map[string]bool, logs *logFilesDoc) collectors.Artifact {
	arn, name, region, bucket := tgt.arn, tgt.name, tgt.region, tgt.bucket
	for i := range results {
		if a := results[i].account; a != "" && a != r.account {
			results[i].Failures = append(results[i].Failures, fmt.Sprintf("digest is for account %s, found under account %s", a, r.account))
			results[i].Valid = false
		}
	}
	valid, invalid := 0, 0
	chainIntact := true
	for _, res := range results {
		if res.Valid {
			valid++
		} else {
			invalid++
		}
		if res.Chain == "broken" {
			chainIntact = false
		}
	}
	usedKeys := []*publicKeyDoc{}
	for _, k := range keys {
		if used[k.Fingerprint] {
			usedKeys = append(usedKeys, k)
		}
	}
	wStart := parseTS(results[0].DigestStartTime)
	if wStart.IsZero() {
		wStart = parseTS(results[0].DigestEndTime).Add(-time.Hour)
	}
	wEnd := parseTS(results[len(results)-1].DigestEndTime)
	body := map[string]any{
		"account": r.account, "trail_arn": arn, "trail_name": name, "region": region, "bucket": bucket,
		"day": day.Format("2006-01-02"), "digests_read": len(results), "valid": valid, "invalid": invalid,
		"chain_intact": chainIntact, "all_valid": invalid == 0,
		"method":      "signature: SHA256withRSA (PKCS#1 v1.5) over digestEndTime + \"\\n\" + bucket/key + \"\\n\" + hex(sha256(uncompressed content)) + \"\\n\" + previousDigestSignature (\"null\" for a starting digest), with the ListPublicKeys key whose fingerprint the digest names; chain: previousDigestS3Object, previousDigestSignature and previousDigestHashValue match the digest before it",
		"digests":     results,
		"public_keys": usedKeys,
		"log_files":   logs,
		"findings":    logs.Findings,
	}
	if tgt.orgID != "" {
		body["organization_id"] = tgt.orgID
		body["organization_trail"] = true
	}
	src := r.source("s3:GetObject,cloudtrail:ListPublicKeys", region, "s3://"+bucket+"/"+tgt.logsBase(r.account)+"CloudTrail-Digest/"+region+"/"+day.Format("2006/01/02/"))
	src.Items, src.Complete = len(results), true
	return collectors.Artifact{
		Type: TypeDigests, Subject: r.account + "/" + name + "/" + region + "/" + day.Format("2006-01-02"), ContentType: "application/json",
		Body: mustJSON(body), ObservedAt: wEnd, WindowStart: wStart, WindowEnd: wEnd, Source: src,
	}
}

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
