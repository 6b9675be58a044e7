package s3test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartPutGet(t *testing.T) {
	srv := Start(t)
	srv.CreateBucket(t, "plain", false)
	srv.CreateBucket(t, "locked", true)
	ctx := context.Background()
	c := srv.Client()
	for _, b := range []string{"plain", "locked"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello")}); err != nil {
			t.Fatalf("put into %s: %v", b, err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("a/b.txt")})
		if err != nil {
			t.Fatalf("get from %s: %v", b, err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(body) != "hello" {
			t.Fatalf("got %q from %s", body, b)
		}
	}
	lock, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
	if err != nil {
		t.Fatalf("object lock configuration of the locked bucket: %v", err)
	}
	if lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Fatalf("bucket created with objectLock=true has no Object Lock: %+v", lock.ObjectLockConfiguration)
	}
}
