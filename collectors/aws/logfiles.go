package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// logFilesDoc is what a digest artifact records about the log files its
// digests list: which were listed, present, read and matched.
type logFilesDoc struct {
	Method      string   `json:"method"`
	Listed      int      `json:"listed"`
	Present     int      `json:"present"`
	Checked     int      `json:"checked"`
	Sample      []string `json:"sample,omitempty"` // the keys read, when a sample
	SampleRule  string   `json:"sample_rule,omitempty"`
	Missing     []string `json:"missing"`
	Altered     []string `json:"altered"`
	Extra       []string `json:"extra"`
	ExtraWindow []string `json:"extra_judged_between,omitempty"`
	Intact      bool     `json:"intact"`
	Findings    []string `json:"-"`
}

const maxLogFileSize = 512 << 20

// logNameTimeRE is the delivery time in a log file's name
// (<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz).
var logNameTimeRE = regexp.MustCompile(`_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json\.gz$`)

// logChecker checks the log files of one digest chain (trail, account,
// region), listing each day's log prefix once.
type logChecker struct {
	r      *run
	tgt    digestTarget
	listed map[string]map[string]bool // day prefix -> keys present
}

func (lc *logChecker) list(ctx context.Context, prefix string) (map[string]bool, error) {
	if m, ok := lc.listed[prefix]; ok {
		return m, nil
	}
	m := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(lc.tgt.s3c, &s3.ListObjectsV2Input{Bucket: aws.String(lc.tgt.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, lc.r.fail(ctx, "s3:ListBucket", "s3://"+lc.tgt.bucket+"/"+prefix, err)
		}
		for _, o := range out.Contents {
			m[aws.ToString(o.Key)] = true
		}
	}
	lc.listed[prefix] = m
	return m, nil
}

// check compares the log files the digests of one day list with the
// bucket: a listed file absent from the bucket is missing; one whose
// uncompressed SHA-256 differs from the digest's hashValue is altered (all
// files are read, or a sample); a file in the bucket delivered within the
// digests' period that no digest lists is extra.
func (lc *logChecker) check(ctx context.Context, day time.Time, results []digestResult) (*logFilesDoc, error) {
	sample, _ := lc.r.cfg.logFileSample()
	doc := &logFilesDoc{Method: "all listed log files read; SHA-256 of the uncompressed content compared with the digest's hashValue",
		Missing: []string{}, Altered: []string{}, Extra: []string{}}
	if sample < 0 {
		doc.Method = "none (log_files: none): presence checked from the bucket listing, content not read"
	}
	base := lc.tgt.logsBase(lc.r.account) + "CloudTrail/" + lc.tgt.region + "/"
	// what the digests list
	want := map[string]digestLogFile{}
	for _, res := range results {
		for _, l := range res.logs {
			if l.S3Bucket == "" || l.S3Bucket == lc.tgt.bucket {
				want[l.S3Object] = l
			}
		}
	}
	doc.Listed = len(want)
	// what the bucket holds: the days the listed files and the digests span
	prefixes := map[string]bool{base + day.Format("2006/01/02/"): true, base + day.Add(-24*time.Hour).Format("2006/01/02/"): true}
	for k := range want {
		if i := strings.LastIndex(k, "/"); i > 0 && strings.HasPrefix(k, base) {
			prefixes[k[:i+1]] = true
		}
	}
	present := map[string]bool{}
	for _, p := range sortedKeys(prefixes) {
		m, err := lc.list(ctx, p)
		if err != nil {
			return nil, err
		}
		for k := range m {
			present[k] = true
		}
	}
	var readable []string
	for _, k := range sortedKeys(want) {
		if present[k] {
			doc.Present++
			readable = append(readable, k)
		} else {
			doc.Missing = append(doc.Missing, k)
		}
	}
	// extra: delivered within the digests' period, listed by none
	first, last := parseTS(results[0].DigestStartTime), parseTS(results[len(results)-1].DigestEndTime)
	if !first.IsZero() && !last.IsZero() {
		doc.ExtraWindow = []string{ts(first), ts(last)}
		for _, k := range sortedKeys(present) {
			m := logNameTimeRE.FindStringSubmatch(k)
			if m == nil || !strings.HasPrefix(k, base) {
				continue
			}
			at, err := time.Parse("20060102T1504Z", m[1])
			if err != nil || at.Before(first.Truncate(time.Minute)) || !at.Before(last.Truncate(time.Minute)) {
				continue
			}
			if _, ok := want[k]; !ok {
				doc.Extra = append(doc.Extra, k)
			}
		}
	}
	// content
	toRead := readable
	if sample < 0 {
		toRead = nil
	} else if sample > 0 && len(readable) > sample {
		toRead = sampleKeys(readable, sample, ts(lc.r.req.Now))
		doc.Sample = toRead
		doc.SampleRule = fmt.Sprintf("%d of %d present files: those with the smallest SHA-256 of key + \"|\" + run time %s (log_files: %d)", sample, len(readable), ts(lc.r.req.Now), sample)
		doc.Method = "a sample of the listed log files read; SHA-256 of the uncompressed content compared with the digest's hashValue; every listed file checked for presence"
	}
	for _, k := range toRead {
		sum, err := lc.hash(ctx, k)
		if err != nil {
			var nk *s3types.NoSuchKey
			if errors.As(err, &nk) {
				doc.Missing = append(doc.Missing, k) // deleted after the listing
				continue
			}
			return nil, err
		}
		doc.Checked++
		l := want[k]
		if l.HashAlgorithm != "" && l.HashAlgorithm != "SHA-256" {
			doc.Altered = append(doc.Altered, k+" (unsupported hash algorithm "+l.HashAlgorithm+")")
			continue
		}
		if sum != strings.ToLower(l.HashValue) {
			doc.Altered = append(doc.Altered, k)
		}
	}
	sort.Strings(doc.Missing)
	for _, k := range doc.Missing {
		doc.Findings = append(doc.Findings, "log file missing: "+k)
	}
	for _, k := range doc.Altered {
		doc.Findings = append(doc.Findings, "log file altered (SHA-256 differs from the digest): "+k)
	}
	for _, k := range doc.Extra {
		doc.Findings = append(doc.Findings, "log file listed by no digest: "+k)
	}
	if doc.Findings == nil {
		doc.Findings = []string{}
	}
	doc.Intact = len(doc.Findings) == 0
	return doc, nil
}

// hash returns the SHA-256 of a log file's uncompressed content, streamed.
func (lc *logChecker) hash(ctx context.Context, key string) (string, error) {
	obj, err := lc.tgt.s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(lc.tgt.bucket), Key: aws.String(key)})
	if err != nil {
		var nk *s3types.NoSuchKey
		if errors.As(err, &nk) {
			return "", err
		}
		return "", lc.r.fail(ctx, "s3:GetObject", "s3://"+lc.tgt.bucket+"/"+key, err)
	}
	defer obj.Body.Close()
	h := sha256.New()
	zr, err := gzipReader(obj.Body)
	if err != nil {
		return "not gzip: " + err.Error(), nil
	}
	if _, err := io.Copy(h, io.LimitReader(zr, maxLogFileSize)); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "unreadable: " + err.Error(), nil
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sampleKeys picks n keys deterministically for a run: those with the
// smallest SHA-256 of key|salt, so each run samples afresh and the sample
// can be recomputed from the artifact.
func sampleKeys(keys []string, n int, salt string) []string {
	type kh struct{ k, h string }
	l := make([]kh, len(keys))
	for i, k := range keys {
		s := sha256.Sum256([]byte(k + "|" + salt))
		l[i] = kh{k, hex.EncodeToString(s[:])}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].h < l[j].h })
	out := make([]string, n)
	for i := range out {
		out[i] = l[i].k
	}
	sort.Strings(out)
	return out
}
