package aws_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tickmark-dev/tickmark/collectors/collectortest"
)

func fakeCloudTrail(t *testing.T, endpoint, region string) *cloudtrail.Client {
	t.Helper()
	return cloudtrail.New(cloudtrail.Options{
		Region: region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDDIRECT", "direct-secret", ""),
	})
}

func lookupInput(name string, start, end time.Time) *cloudtrail.LookupEventsInput {
	return &cloudtrail.LookupEventsInput{
		StartTime: aws.Time(start), EndTime: aws.Time(end),
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String(name)}},
	}
}

func deleteInput(bucket, key string) *s3.DeleteObjectInput {
	return &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
}

type digestsBody struct {
	AllValid    bool `json:"all_valid"`
	ChainIntact bool `json:"chain_intact"`
	PublicKeys  []struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"public_keys"`
	Digests []struct {
		Key            string   `json:"s3_key"`
		Valid          bool     `json:"valid"`
		SignatureValid bool     `json:"signature_valid"`
		Chain          string   `json:"chain"`
		Failures       []string `json:"failures"`
	} `json:"digests"`
}

func digestBody(t testing.TB, a collectortest.Artifact) digestsBody {
	t.Helper()
	var b digestsBody
	if err := json.Unmarshal(a.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
